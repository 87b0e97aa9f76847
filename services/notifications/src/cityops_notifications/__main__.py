"""``python -m cityops_notifications``: the api (same as ``cityops serve notifications``)."""

import asyncio

from cityops_notifications.server import serve
from cityops_platform.settings import get_settings

if __name__ == "__main__":
    asyncio.run(serve(get_settings()))
