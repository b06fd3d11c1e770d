"""The API served as a user runs it (``reeferwatch-central serve``) under more concurrent
requests than its thread pool has threads: every one is answered, none stalls."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from central.db import Database
from central.settings import Settings
from central.users import add_user
from tests.e2e.browser import serve_central

pytest_plugins = ["tests.central_fixtures"]
pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery"
CONCURRENT = 64  # 16 times the API's thread pool (central.api.deps.API_THREADS)


def test_many_concurrent_clip_lists_are_all_answered(
    central_settings: Settings, central_db: Database
) -> None:
    with central_db.session() as session:
        add_user(session, "nat", PASSWORD, "admin", actor="test")
        session.commit()
    with serve_central(central_settings) as url:
        form = {"username": "nat", "password": PASSWORD}
        token = httpx.post(f"{url}/api/v1/auth/token", data=form).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}

        def one(_: int) -> int:
            return httpx.get(f"{url}/api/v1/clips", headers=headers, timeout=20).status_code

        with ThreadPoolExecutor(CONCURRENT) as pool:
            codes = list(pool.map(one, range(CONCURRENT * 3)))
    assert codes == [200] * (CONCURRENT * 3)
