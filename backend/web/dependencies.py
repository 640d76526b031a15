"""What handlers may ask for by name, and the annotations to ask with.

The app-wide objects live in `app.state` and are handed out as they are: they are ours, not input, so
they skip Litestar's validation (which would try to rebuild a frozen dataclass such as `Settings`).
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.enums import RequestEncodingType
from litestar.params import Body, SkipValidationMarker
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.clock import Clock
from backend.database import Database, provide_db_session
from backend.keyring import Keyring
from backend.settings import Settings
from backend.web.assets import Assets

# A plain HTML form's fields (`application/x-www-form-urlencoded`), as sent by the pages' forms.
Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]

SettingsDependency = NamedDependency[Annotated[Settings, SkipValidationMarker()]]
DatabaseDependency = NamedDependency[Annotated[Database, SkipValidationMarker()]]
AssetsDependency = NamedDependency[Annotated[Assets, SkipValidationMarker()]]
KeyringDependency = NamedDependency[Annotated[Keyring, SkipValidationMarker()]]
ClockDependency = NamedDependency[Annotated[Clock, SkipValidationMarker()]]
# One session and one transaction per request, committed when the handler returns.
DbSessionDependency = NamedDependency[Annotated[AsyncSession, SkipValidationMarker()]]

STATE_KEYS = ("settings", "database", "assets", "keyring", "clock")


def app_dependencies() -> dict[str, Provide]:
    provided = {key: Provide(from_state(key), sync_to_thread=False) for key in STATE_KEYS}
    return {**provided, "db_session": Provide(provide_db_session)}


def from_state(key: str) -> Any:
    """A provider handing out `app.state[key]` as it is."""

    def provide(state: State) -> Any:
        return state[key]

    return provide
