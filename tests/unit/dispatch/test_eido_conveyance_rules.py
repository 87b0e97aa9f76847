"""EIDO conveyance rules without a network: partner data, stable webhook ids, backoff, and Standard
Webhooks signatures that the reference library verifies."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from cityops_dispatch.eido.conveyance import backoff_seconds, conveyance_id, signed_headers
from cityops_dispatch.eido.partners import Partner, load_partners, partners_from_dict

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


def test_the_packaged_partner_file_has_no_partners() -> None:
    assert load_partners() == ()


def test_partners_come_from_data_with_secrets_from_the_environment() -> None:
    data = {"partners": [{"name": "hcm-114", "url": "https://cad.hcm.example.vn/eido", "secret_env": "S1",
                          "categories": ["FIRE"]}]}
    (partner,) = partners_from_dict(data, {"S1": SECRET})
    assert (partner.name, partner.secret) == ("hcm-114", SECRET)
    assert partner.wants("FIRE")
    assert not partner.wants("FLOOD")
    with pytest.raises(ValueError, match="S1"):
        partners_from_dict(data, {})
    with pytest.raises(ValueError, match="url"):
        partners_from_dict({"partners": [{**data["partners"][0], "url": "ftp://x"}]}, {"S1": SECRET})
    with pytest.raises(ValueError, match="duplicate"):
        partners_from_dict({"partners": data["partners"] * 2}, {"S1": SECRET})


def test_webhook_id_is_stable_per_event_and_partner() -> None:
    assert conveyance_id("e-1", "hcm-114") == conveyance_id("e-1", "hcm-114")
    assert len({conveyance_id("e-1", "hcm-114"), conveyance_id("e-2", "hcm-114"),
                conveyance_id("e-1", "other")}) == 3


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    assert backoff_seconds(1, base_s=1, max_s=300, rand=lambda: 0.5) == 1.0
    assert backoff_seconds(4, base_s=1, max_s=300, rand=lambda: 0.5) == 8.0
    assert backoff_seconds(20, base_s=1, max_s=300, rand=lambda: 0.5) == 300.0
    assert 0.75 <= backoff_seconds(1, base_s=1, max_s=300, rand=lambda: 0.0) <= backoff_seconds(
        1, base_s=1, max_s=300, rand=lambda: 1.0) <= 1.25


def test_signature_verifies_with_the_reference_library_and_not_with_another_secret() -> None:
    body = '{"eidoVersion": "1.0", "x": "Cháy"}'
    headers = signed_headers(Partner("p", "https://x", SECRET), "msg_1", body, datetime.now(UTC))
    assert set(headers) >= {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert Webhook(SECRET).verify(body, headers) == {"eidoVersion": "1.0", "x": "Cháy"}
    other = "whsec_" + base64.b64encode(b"another secret of thirty-two b..").decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body + " ", headers)


@pytest.mark.parametrize("url", ["http://169.254.169.254/eido", "http://2852039166/eido", "http://0xa9fea9fe/",
                                 "http://[fd00:ec2::254]/", "http://10.0.0.4/eido", "http://127.0.0.1:9/eido"])
def test_a_partner_with_a_literal_non_public_address_is_refused_at_load(url: str) -> None:
    data = {"partners": [{"name": "inner", "url": url, "secret_env": "S1"}]}
    with pytest.raises(ValueError, match="inner"):
        partners_from_dict(data, {"S1": SECRET})


def test_loopback_partners_load_only_with_the_explicit_allow_list() -> None:
    data = {"partners": [{"name": "local-cad", "url": "http://127.0.0.1:9/eido", "secret_env": "S1"}]}
    (partner,) = partners_from_dict(data, {"S1": SECRET, "CITYOPS_OUTBOUND_ALLOW_CIDRS": "127.0.0.0/8"})
    assert partner.url == "http://127.0.0.1:9/eido"
