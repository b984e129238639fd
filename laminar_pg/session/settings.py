"""Session settings (GUCs): defaults, which are reported, and SET / SHOW / RESET rules.

Unknown settings are accepted as PostgreSQL accepts placeholder (custom) variables only when
qualified ('myapp.x'); plain unknown names are refused with 42704 as PostgreSQL does, but
the client settings that drivers send on connect (extra_float_digits, client_min_messages,
...) are all known here.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from laminar_pg import __version__, errcodes

SERVER_VERSION = "15.0"
SERVER_VERSION_NUM = "150000"


@dataclass(frozen=True, slots=True)
class Setting:
    name: str
    default: str
    reported: bool = False  # sent as ParameterStatus at start and on change
    read_only: bool = False
    description: str = ""
    choices: tuple[str, ...] = ()


_SETTINGS = [
    Setting("server_version", SERVER_VERSION, reported=True, read_only=True,
            description="PostgreSQL version this server is compatible with"),
    Setting("server_version_num", SERVER_VERSION_NUM, read_only=True),
    Setting("laminar_version", __version__, read_only=True),
    Setting("server_encoding", "UTF8", reported=True, read_only=True),
    Setting("client_encoding", "UTF8", reported=True,
            choices=("UTF8", "UTF-8", "UNICODE", "SQL_ASCII")),
    Setting("DateStyle", "ISO, MDY", reported=True),
    Setting("TimeZone", "UTC", reported=True),
    Setting("integer_datetimes", "on", reported=True, read_only=True),
    Setting("standard_conforming_strings", "on", reported=True),
    Setting("IntervalStyle", "postgres", reported=True, choices=("postgres",)),
    Setting("is_superuser", "on", reported=True, read_only=True),
    Setting("session_authorization", "", reported=True, read_only=True),
    Setting("application_name", "", reported=True),
    Setting("default_transaction_read_only", "off", reported=True),
    Setting("in_hot_standby", "off", reported=True, read_only=True),
    Setting("search_path", '"$user", public'),
    Setting("extra_float_digits", "1"),
    Setting("client_min_messages", "notice"),
    Setting("statement_timeout", "0"),
    Setting("lock_timeout", "0"),
    Setting("idle_in_transaction_session_timeout", "0"),
    Setting("transaction_isolation", "read committed"),
    Setting("default_transaction_isolation", "read committed"),
    Setting("default_table_access_method", "heap"),
    Setting("transaction_read_only", "off"),
    Setting("bytea_output", "hex", choices=("hex",)),
    Setting("max_identifier_length", "63", read_only=True),
    Setting("max_index_keys", "32", read_only=True),
    Setting("block_size", "8192", read_only=True),
    Setting("lc_collate", "C", read_only=True),
    Setting("lc_ctype", "C", read_only=True),
    Setting("lc_messages", "C"),
    Setting("lc_monetary", "C"),
    Setting("lc_numeric", "C"),
    Setting("lc_time", "C"),
    Setting("geqo", "on"),
    Setting("jit", "off"),
    Setting("synchronous_commit", "on"),
    Setting("row_security", "on"),
    Setting("check_function_bodies", "on"),
    Setting("escape_string_warning", "on"),
    Setting("backslash_quote", "safe_encoding"),
    Setting("xmloption", "content"),
    Setting("work_mem", "4MB"),
    Setting("cluster_name", ""),
    Setting("default_with_oids", "off"),
    Setting("ssl", "off", read_only=True),
    Setting("password_encryption", "scram-sha-256"),
]
# DateStyle appears twice above only so that lookups are case-insensitive below.
SETTINGS: dict[str, Setting] = {s.name.lower(): s for s in _SETTINGS}


def canonical_name(name: str) -> str:
    setting = SETTINGS.get(name.lower())
    return setting.name if setting else name.lower()


class SessionSettings:
    """One session's values; tracks changes of reported settings for ParameterStatus."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {k: s.default for k, s in SETTINGS.items()}
        # RESET goes back to what the client asked for at startup, else the default.
        self.reset_values: dict[str, str] = dict(self.values)
        self.custom: dict[str, str] = {}
        self.changed: dict[str, str] = {}
        self._snapshot: tuple[dict[str, str], dict[str, str]] | None = None
        self._local_saved: dict[str, str | None] = {}

    def reported(self) -> list[tuple[str, str]]:
        return [(s.name, self.values[k]) for k, s in SETTINGS.items() if s.reported]

    def get(self, name: str) -> str:
        key = name.lower()
        if key in self.values:
            return self.values[key]
        if key in self.custom:
            return self.custom[key]
        raise errcodes.UndefinedObject(f'unrecognized configuration parameter "{name}"')

    def get_or_none(self, name: str) -> str | None:
        key = name.lower()
        return self.values.get(key, self.custom.get(key))

    def set(self, name: str, value: str | None, *, startup: bool = False) -> None:
        """SET name = value (None: DEFAULT). `startup` allows read-only report-only values."""
        key = name.lower()
        setting = SETTINGS.get(key)
        if setting is None:
            if "." not in key:
                raise errcodes.UndefinedObject(f'unrecognized configuration parameter "{name}"')
            self.custom[key] = "" if value is None else value
            return
        if setting.read_only and not startup:
            raise errcodes.CantChangeRuntimeParam(f'parameter "{name}" cannot be changed')
        new = self.reset_values[key] if value is None else normalise(setting, value)
        if startup:
            self.reset_values[key] = new
        if self.values[key] != new:
            self.values[key] = new
            if setting.reported:
                self.changed[setting.name] = new

    # Transactions (guc.c's GUC stack, simplified): a SET is undone if its transaction
    # rolls back; a SET LOCAL lasts until the transaction ends either way.

    def begin(self) -> None:
        """A transaction starts (explicit block or the implicit one of a statement)."""
        if self._snapshot is None:
            self._snapshot = (dict(self.values), dict(self.custom))
            self._local_saved = {}

    def set_local(self, name: str, value: str | None) -> None:
        key = name.lower()
        if self._snapshot is not None and key not in self._local_saved:
            self._local_saved[key] = self.get_or_none(key)
        self.set(name, value)

    def end(self, committed: bool) -> None:
        """The transaction ends: keep plain SETs if committed, always drop SET LOCALs."""
        snapshot, self._snapshot = self._snapshot, None
        saved, self._local_saved = self._local_saved, {}
        if snapshot is None:
            return
        if committed:
            restore = saved
        else:
            values, custom = snapshot
            restore = {k: v for k, v in values.items() if self.values.get(k) != v}
            self.custom = custom
        for key, value in restore.items():
            if key in SETTINGS:
                self._assign(key, value if value is not None else SETTINGS[key].default)
            elif value is None:
                self.custom.pop(key, None)
            else:
                self.custom[key] = value

    def _assign(self, key: str, value: str) -> None:
        if self.values[key] != value:
            self.values[key] = value
            if SETTINGS[key].reported:
                self.changed[SETTINGS[key].name] = value

    def reset_all(self) -> None:
        for key, setting in SETTINGS.items():
            if not setting.read_only and key != "session_authorization":
                self.set(key, None)
        self.custom.clear()

    def take_changes(self) -> list[tuple[str, str]]:
        out = list(self.changed.items())
        self.changed.clear()
        return out


def _datestyle(value: str) -> str:
    """Only ISO output is built; the field order (MDY / DMY / YMD) is kept."""
    parts = [p.strip().upper() for p in value.replace(" ", ",").split(",") if p.strip()]
    styles = [p for p in parts if p in ("ISO", "SQL", "POSTGRES", "GERMAN")]
    orders = [p for p in parts if p in ("MDY", "DMY", "YMD", "US", "EUROPEAN", "NONEUROPEAN")]
    if len(styles) + len(orders) != len(parts) or not parts:
        raise errcodes.InvalidParameterValue(f'invalid value for parameter "DateStyle": "{value}"')
    if any(style != "ISO" for style in styles):
        raise errcodes.FeatureNotSupported(
            f'DateStyle "{value}" is not supported: laminar_pg writes dates in ISO style only'
        )
    order = {"US": "MDY", "NONEUROPEAN": "MDY", "EUROPEAN": "DMY"}.get(
        orders[-1], orders[-1]) if orders else "MDY"
    return f"ISO, {order}"


def normalise(setting: Setting, value: str) -> str:
    """Validate what we must (encodings, time zones) and canonicalise as PostgreSQL does."""
    key = setting.name.lower()
    if key == "client_encoding":
        upper = value.strip("'\"").upper().replace("-", "").replace("_", "")
        if upper in ("UTF8", "UNICODE"):
            return "UTF8"
        if upper == "SQLASCII":
            return "SQL_ASCII"
        raise errcodes.InvalidParameterValue(
            f'invalid value for parameter "client_encoding": "{value}"',
            detail="Only UTF8 is supported.",
        )
    if key == "timezone":
        if value.upper() in ("UTC", "GMT", "Z", "ETC/UTC", "UCT", "ZULU", "LOCAL", "DEFAULT"):
            return "UTC"
        try:
            import zoneinfo

            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise errcodes.InvalidParameterValue(
                f'invalid value for parameter "TimeZone": "{value}"'
            ) from exc
        return value
    if key == "datestyle":
        return _datestyle(value)
    if setting.choices and value.lower() not in (c.lower() for c in setting.choices):
        raise errcodes.InvalidParameterValue(
            f'invalid value for parameter "{setting.name}": "{value}"',
            hint="Available values: " + ", ".join(setting.choices) + ".",
        )
    if key in ("statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout"):
        parse_timeout(value)
    if key == "extra_float_digits":
        try:
            digits = int(value)
        except ValueError as exc:
            raise errcodes.InvalidParameterValue(
                f'invalid value for parameter "extra_float_digits": "{value}"'
            ) from exc
        if not -15 <= digits <= 3:
            raise errcodes.InvalidParameterValue(
                f"{digits} is outside the valid range for parameter "
                '"extra_float_digits" (-15 .. 3)'
            )
    return value


_TIMEOUT_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


@functools.lru_cache(maxsize=64)
def parse_timeout(text: str) -> float:
    """A time setting in seconds: a number is milliseconds, as in PostgreSQL."""
    value = text.strip().strip("'").lower()
    for unit in sorted(_TIMEOUT_UNITS, key=len, reverse=True):
        if value.endswith(unit) and value[: -len(unit)].strip().replace(".", "", 1).isdigit():
            return float(value[: -len(unit)]) * _TIMEOUT_UNITS[unit]
    try:
        return float(value) / 1000.0
    except ValueError:
        raise errcodes.InvalidParameterValue(
            f'invalid value for a time setting: "{text}"',
            hint='Valid units for this parameter are "us", "ms", "s", "min", "h", and "d".',
        ) from None
