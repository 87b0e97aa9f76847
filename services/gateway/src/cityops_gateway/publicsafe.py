"""What may leave the gateway on a public, unauthenticated view (Open311 GET, NGSI-LD, STA, CAP).

Incidents carry no reporter fields, but their free text (a citizen's description, an address
typed by a caller) can still hold a phone number or an e-mail address. Public views pass free
text through ``redact_contacts`` or leave it out altogether (NGSI-LD does the latter).
"""

from __future__ import annotations

import re

# Vietnamese numbers: 0 or +84/84, then 8-10 digits, with optional spaces, dots or dashes between
# groups ("0912 345 678", "+84-912.345.678", "028 3829 1234").
_PHONE = re.compile(r"(?<![\w+])(?:\+?84|0)(?:[ .\-]?\d){8,10}(?!\d)")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
PHONE_MASK = "[đã ẩn số điện thoại]"
EMAIL_MASK = "[đã ẩn email]"


def redact_contacts(text: str) -> str:
    """``text`` with phone numbers and e-mail addresses masked."""
    return _PHONE.sub(PHONE_MASK, _EMAIL.sub(EMAIL_MASK, text))
