"""The Nexmark generator (connector = 'nexmark'): people, auctions and bids of an online
auction house, as the Nexmark generators of Beam / Flink, RisingWave (nexmark-rs) and
Feldera make them.

Strategy: events are numbered by a global index i = 0, 1, 2, ...; of every 50, index
i % 50 == 0 is a person, 1..3 are auctions and 4..49 are bids (1:3:46). Ids follow from
the index (person id 1000 + i // 50, auction ids 1000 + 3 per 50 events), as in those
generators; every random choice is `mix64` of (seed, i, field), so any event can be made
on its own. Event i happens at `start_time + i * event_gap`, exactly.

The distributions are theirs (Flink's defaults): a bid is for a "hot" auction (the first
of the latest batch of 100 auctions) with probability 1/2, else for one of the 100
in-flight auctions or the 10 next ids; by a hot bidder (second of the latest 100
people) with probability 3/4, else one of the 1000 active people or the 10 next ids; an
auction's seller is hot with probability 3/4. Prices are round(10 ** (6u) * 100) cents.
A bid's channel is one of Google / Facebook / Baidu / Apple with probability 1/2, else one
of 10,000 generated channels "channel-k" with their urls. Strings are lowercase letters
(item names and descriptions with 1 space in 13, trimmed); `extra` pads each event to an
average of 200 / 500 / 100 bytes (person / auction / bid). Two departures: `extra` is a
window of a fixed 64 KiB random-letter pool at a random offset (same lengths, same
letters, far cheaper than a draw per byte), and `expires` is in microseconds (1 us plus
up to twice the time of 1666 events, i.e. the next 100 auctions).

Splits: the events are cut into blocks of 50 consecutive indices (one 1:3:46 cycle);
split s of n owns blocks s, s + n, s + 2n, ...  A split's position counts its own events
of every kind, so read(split, position, k) covers k events of the split and returns the
rows of the source's table among them (about 46 bids, 3 auctions or 1 person per 50).
Position p of split s is global index ((p // 50) * n + s) * 50 + p % 50. `nexmark.events`
bounds the global index (all kinds, all splits): the union of the splits' rows is the
rows of a one-split generator, and values do not depend on the split count or read sizes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pyarrow as pa
from numba import njit

from laminar_pg.engine.sources.base import (
    GOLDEN,
    U64,
    Generator,
    Options,
    StringPool,
    below,
    below32,
    check_unique,
    copy_bytes,
    draw,
    mix64_py,
    parse_duration_us,
    parse_timestamp_us,
    random_letters,
    row_hash,
    salt_of,
    sql_type_name,
    string_array,
    timestamp_array,
    unit,
)
from laminar_pg.errors import error_for

# --- the model's constants (Flink's GeneratorConfig defaults) ---------------------------
PROPORTION = 50  # events per cycle: 1 person, 3 auctions, 46 bids
FIRST_PERSON_ID = 1000
FIRST_AUCTION_ID = 1000
FIRST_CATEGORY_ID = 10
NUM_CATEGORIES = 5
ACTIVE_PEOPLE = 1000
IN_FLIGHT_AUCTIONS = 100
ID_LEAD = 10  # ids not yet created that bids and auctions may name
HOT_BATCH = 100  # hot ids: the first (sellers) / second (bidders) of the latest 100
HOT_AUCTION_RATIO = 2
HOT_BIDDER_RATIO = 4
HOT_SELLER_RATIO = 4
HOT_CHANNEL_RATIO = 2
CHANNELS = 10_000
EVENTS_FOR_AUCTIONS = IN_FLIGHT_AUCTIONS * PROPORTION // 3  # 1666
AVG_PERSON_BYTES = 200
AVG_AUCTION_BYTES = 500
AVG_BID_BYTES = 100
LN_1E6 = 13.815510557964274  # ln(10 ** 6): 10 ** (6u) == exp(u * LN_1E6)
EXTRA_POOL_SPAN = 1 << 16  # extra padding starts anywhere in the first 64 KiB of the pool

DEFAULT_START_TIME = "2015-07-15 00:00:00"
DEFAULT_EVENT_GAP = "100us"

FIRST_NAMES = "Peter,Paul,Luke,John,Saul,Vicky,Kate,Julie,Sarah,Deiter,Walter".split(",")
LAST_NAMES = "Shultz,Abrams,Spencer,White,Bartels,Walton,Smith,Jones,Noris".split(",")
US_CITIES = (
    "Phoenix,Los Angeles,San Francisco,Boise,Portland,Bend,Redmond,Seattle,Kent,Cheyenne".split(",")
)
US_STATES = "AZ,CA,ID,OR,WA,WY".split(",")
HOT_CHANNELS = ["Google", "Facebook", "Baidu", "Apple"]

# Which offsets of a 50-event cycle hold each table's events.
TABLE_OFFSETS = {"person": (0, 1), "auction": (1, 4), "bid": (4, 50)}

_TS = pa.timestamp("us")
TABLE_FIELDS: dict[str, dict[str, pa.DataType]] = {
    "person": {
        "id": pa.int64(),
        "name": pa.string(),
        "email_address": pa.string(),
        "credit_card": pa.string(),
        "city": pa.string(),
        "state": pa.string(),
        "date_time": _TS,
        "extra": pa.string(),
    },
    "auction": {
        "id": pa.int64(),
        "item_name": pa.string(),
        "description": pa.string(),
        "initial_bid": pa.int64(),
        "reserve": pa.int64(),
        "date_time": _TS,
        "expires": _TS,
        "seller": pa.int64(),
        "category": pa.int64(),
        "extra": pa.string(),
    },
    "bid": {
        "auction": pa.int64(),
        "bidder": pa.int64(),
        "price": pa.int64(),
        "channel": pa.string(),
        "url": pa.string(),
        "date_time": _TS,
        "extra": pa.string(),
    },
}

# One stream of draws per field (see base.draw).
S_BID_AUCTION = salt_of("bid.auction")
S_BID_BIDDER = salt_of("bid.bidder")
S_BID_PRICE = salt_of("bid.price")
S_BID_CHANNEL = salt_of("bid.channel")
S_EXTRA = salt_of("extra")
S_NAME = salt_of("person.name")
S_EMAIL_USER = salt_of("person.email.user")
S_EMAIL_DOMAIN = salt_of("person.email.domain")
S_CARD = salt_of("person.credit_card")
S_CITY = salt_of("person.city")
S_STATE = salt_of("person.state")
S_ITEM = salt_of("auction.item_name")
S_DESCRIPTION = salt_of("auction.description")
S_INITIAL_BID = salt_of("auction.initial_bid")
S_RESERVE = salt_of("auction.reserve")
S_EXPIRES = salt_of("auction.expires")
S_SELLER = salt_of("auction.seller")
S_CATEGORY = salt_of("auction.category")

_NEXMARK_KEY = 0x6E65786D61726B21  # "nexmark!": the seed's stream is apart from others'


# --- pools -------------------------------------------------------------------------------


@functools.cache
def person_pools() -> tuple[StringPool, StringPool, StringPool]:
    """Names ("first last", index first * 9 + last), cities, states."""
    names = [f"{first} {last}" for first in FIRST_NAMES for last in LAST_NAMES]
    return StringPool(names), StringPool(US_CITIES), StringPool(US_STATES)


def _pool_string(key: int, length: int, delimiter: str) -> str:
    chars = []
    for k in range(length):
        roll = mix64_py(key + (k + 1) * int(GOLDEN)) % 338
        chars.append(delimiter if roll < 26 else chr(97 + roll % 26))
    return "".join(chars)


def _base_url(key: int) -> str:
    parts = []
    for part in range(3):
        sub = mix64_py(key * 7 + part)
        parts.append(_pool_string(sub, 3 + mix64_py(sub) % 2, "_"))
    return "https://www.nexmark.com/" + "/".join(parts) + "/item.htm?query=1"


def _reversed_i32(value: int) -> int:
    bits = int(f"{value & 0xFFFFFFFF:032b}"[::-1], 2)
    return abs(bits - (1 << 32) if bits >= 1 << 31 else bits)


@functools.cache
def channel_pools() -> tuple[StringPool, StringPool]:
    """Channels and their urls: the 4 hot channels first, then channel-0 .. channel-9999
    (9 in 10 of whose urls carry a channel_id)."""
    channels = list(HOT_CHANNELS)
    urls = [_base_url(mix64_py(0x686F74 + k)) for k in range(len(HOT_CHANNELS))]
    for k in range(CHANNELS):
        url = _base_url(mix64_py(0x6368616E + k))
        if mix64_py(0x6964 + k) % 10 > 0:
            url += f"&channel_id={_reversed_i32(k)}"
        channels.append(f"channel-{k}")
        urls.append(url)
    return StringPool(channels), StringPool(urls)


@functools.cache
def extra_pool() -> npt.NDArray[np.uint8]:
    return random_letters(EXTRA_POOL_SPAN + 1024, U64(0x6578747261))


# --- numba kernels: ids and numbers ------------------------------------------------------


@njit(inline="always", nogil=True, cache=True)
def _last_person(i: int) -> int:
    """Base-0 id of the newest person at event i (the person itself for a person)."""
    return i // PROPORTION


@njit(inline="always", nogil=True, cache=True)
def _last_auction(i: int) -> int:
    """Base-0 id of the newest auction at event i (the auction itself for an auction)."""
    epoch = i // PROPORTION
    offset = i % PROPORTION
    if offset < 1:
        return (epoch - 1) * 3 + 2
    if offset >= 4:
        return epoch * 3 + 2
    return epoch * 3 + offset - 1


@njit(inline="always", nogil=True, cache=True)
def _next_person(i: int, word: np.uint64) -> int:
    """One of the active people, or of the next few ids (base 0)."""
    people = _last_person(i) + 1
    active = min(people, ACTIVE_PEOPLE)
    return people - active + below32(word, active + ID_LEAD)


@njit(inline="always", nogil=True, cache=True)
def _next_auction(i: int, word: np.uint64) -> int:
    """One of the in-flight auctions, or of the next few ids (base 0)."""
    newest = _last_auction(i)
    oldest = max(newest - IN_FLIGHT_AUCTIONS, 0)
    return oldest + below32(word, newest - oldest + 1 + ID_LEAD)


@njit(inline="always", nogil=True, cache=True)
def _price(word: np.uint64) -> int:
    """round(10 ** (6u) * 100) cents: 1 to 1,000,000 dollars, log-uniform."""
    return int(np.floor(np.exp(unit(word) * LN_1E6) * 100.0 + 0.5))


@njit(nogil=True, cache=True)
def _table_indices(
    start: int, stop: int, split: int, splits: int, lo: int, hi: int
) -> npt.NDArray[np.int64]:
    """Global indices of the events at positions [start, stop) of `split` whose offset in
    the 50-event cycle is in [lo, hi)."""
    count = 0
    p = start
    while p < stop:
        offset = p % PROPORTION
        end = min(PROPORTION, offset + (stop - p))
        count += max(0, min(end, hi) - max(offset, lo))
        p += end - offset
    out = np.empty(count, dtype=np.int64)
    k = 0
    p = start
    while p < stop:
        offset = p % PROPORTION
        end = min(PROPORTION, offset + (stop - p))
        base = ((p // PROPORTION) * splits + split) * PROPORTION
        for o in range(max(offset, lo), min(end, hi)):
            out[k] = base + o
            k += 1
        p += end - offset
    return out


@njit(nogil=True, cache=True)
def _bid_auctions(idx: npt.NDArray[np.int64], key: np.uint64) -> npt.NDArray[np.int64]:
    out = np.empty(len(idx), dtype=np.int64)
    for r in range(len(idx)):
        i = idx[r]
        state = row_hash(key, i)
        if below32(draw(state, S_BID_AUCTION, 0), HOT_AUCTION_RATIO) > 0:
            auction = (_last_auction(i) // HOT_BATCH) * HOT_BATCH
        else:
            auction = _next_auction(i, draw(state, S_BID_AUCTION, 1))
        out[r] = auction + FIRST_AUCTION_ID
    return out


@njit(nogil=True, cache=True)
def _bid_bidders(idx: npt.NDArray[np.int64], key: np.uint64) -> npt.NDArray[np.int64]:
    out = np.empty(len(idx), dtype=np.int64)
    for r in range(len(idx)):
        i = idx[r]
        state = row_hash(key, i)
        if below32(draw(state, S_BID_BIDDER, 0), HOT_BIDDER_RATIO) > 0:
            bidder = (_last_person(i) // HOT_BATCH) * HOT_BATCH + 1
        else:
            bidder = _next_person(i, draw(state, S_BID_BIDDER, 1))
        out[r] = bidder + FIRST_PERSON_ID
    return out


@njit(nogil=True, cache=True)
def _auction_sellers(idx: npt.NDArray[np.int64], key: np.uint64) -> npt.NDArray[np.int64]:
    out = np.empty(len(idx), dtype=np.int64)
    for r in range(len(idx)):
        i = idx[r]
        state = row_hash(key, i)
        if below32(draw(state, S_SELLER, 0), HOT_SELLER_RATIO) > 0:
            seller = (_last_person(i) // HOT_BATCH) * HOT_BATCH
        else:
            seller = _next_person(i, draw(state, S_SELLER, 1))
        out[r] = seller + FIRST_PERSON_ID
    return out


@njit(nogil=True, cache=True)
def _prices(
    idx: npt.NDArray[np.int64], key: np.uint64, salt: np.uint64, plus: np.uint64
) -> npt.NDArray[np.int64]:
    """A price per row from stream `salt`, plus one from stream `plus` unless it is 0
    (an auction's reserve is its initial bid plus another price)."""
    out = np.empty(len(idx), dtype=np.int64)
    for r in range(len(idx)):
        state = row_hash(key, idx[r])
        price = _price(draw(state, salt, 0))
        if plus != U64(0):
            price += _price(draw(state, plus, 0))
        out[r] = price
    return out


@njit(nogil=True, cache=True)
def _choices(
    idx: npt.NDArray[np.int64], key: np.uint64, salt: np.uint64, n: int
) -> npt.NDArray[np.int64]:
    """A uniform choice in [0, n) per row (categories, cities, states)."""
    out = np.empty(len(idx), dtype=np.int64)
    for r in range(len(idx)):
        out[r] = below32(draw(row_hash(key, idx[r]), salt, 0), n)
    return out


@njit(inline="always", nogil=True, cache=True)
def _name_index(state: np.uint64) -> int:
    first = below32(draw(state, S_NAME, 0), 11)
    return first * 9 + below32(draw(state, S_NAME, 1), 9)


@njit(nogil=True, cache=True)
def _name_indices(idx: npt.NDArray[np.int64], key: np.uint64) -> npt.NDArray[np.int32]:
    out = np.empty(len(idx), dtype=np.int32)
    for r in range(len(idx)):
        out[r] = _name_index(row_hash(key, idx[r]))
    return out


@njit(inline="always", nogil=True, cache=True)
def _channel_index(state: np.uint64) -> int:
    if below32(draw(state, S_BID_CHANNEL, 0), HOT_CHANNEL_RATIO) > 0:
        return below32(draw(state, S_BID_CHANNEL, 1), 4)
    return 4 + below32(draw(state, S_BID_CHANNEL, 1), CHANNELS)


@njit(nogil=True, cache=True)
def _channel_indices(idx: npt.NDArray[np.int64], key: np.uint64) -> npt.NDArray[np.int32]:
    out = np.empty(len(idx), dtype=np.int32)
    for r in range(len(idx)):
        out[r] = _channel_index(row_hash(key, idx[r]))
    return out


@njit(nogil=True, cache=True)
def _expires(
    idx: npt.NDArray[np.int64], key: np.uint64, start_us: int, gap_us: int
) -> npt.NDArray[np.int64]:
    out = np.empty(len(idx), dtype=np.int64)
    span = U64(max(2 * EVENTS_FOR_AUCTIONS * gap_us, 1))
    for r in range(len(idx)):
        i = idx[r]
        length = 1 + np.int64(below(draw(row_hash(key, i), S_EXPIRES, 0), span))
        out[r] = start_us + i * gap_us + length
    return out


# --- numba kernels: strings --------------------------------------------------------------


@njit(inline="always", nogil=True, cache=True)
def _next_string(
    state: np.uint64,
    salt: np.uint64,
    max_length: int,
    out: npt.NDArray[np.uint8],
    at: int,
) -> int:
    """Flink's nextString: 3 .. max_length - 1 characters, each a space (1 in 13) or a
    lowercase letter, trimmed; written at out[at:], returns its length."""
    length = 3 + below32(draw(state, salt, 0), max_length - 3)
    written = 0
    kept = 0
    word = U64(0)
    fraction = U64(0)
    for c in range(length):
        if c % 4 == 0:  # two characters from each half of a word
            word = draw(state, salt, 1 + c // 4)
            fraction = word >> U64(32)
        elif c % 4 == 2:
            fraction = word & U64(0xFFFFFFFF)
        fraction = fraction * U64(338)
        roll = int(fraction >> U64(32))
        fraction = fraction & U64(0xFFFFFFFF)
        if roll < 26:
            if written > 0:
                out[at + written] = 32
                written += 1
        else:
            out[at + written] = 97 + roll % 26
            written += 1
            kept = written
    return kept


@njit(nogil=True, cache=True)
def _string_column(
    idx: npt.NDArray[np.int64], key: np.uint64, salt: np.uint64, max_length: int
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.uint8]]:
    """One nextString per row (item names, descriptions)."""
    n = len(idx)
    offsets = np.empty(n + 1, dtype=np.int32)
    data = np.empty(n * max_length + 1, dtype=np.uint8)
    offsets[0] = 0
    at = 0
    for r in range(n):
        at += _next_string(row_hash(key, idx[r]), salt, max_length, data, at)
        offsets[r + 1] = at
    return offsets, data[:at]


@njit(nogil=True, cache=True)
def _emails(
    idx: npt.NDArray[np.int64], key: np.uint64
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.uint8]]:
    """nextString(7) '@' nextString(5) '.com' per row."""
    n = len(idx)
    offsets = np.empty(n + 1, dtype=np.int32)
    data = np.empty(n * 16 + 1, dtype=np.uint8)
    offsets[0] = 0
    at = 0
    for r in range(n):
        state = row_hash(key, idx[r])
        at += _next_string(state, S_EMAIL_USER, 7, data, at)
        data[at] = 64  # '@'
        at += 1
        at += _next_string(state, S_EMAIL_DOMAIN, 5, data, at)
        data[at] = 46  # '.'
        data[at + 1] = 99  # 'c'
        data[at + 2] = 111  # 'o'
        data[at + 3] = 109  # 'm'
        at += 4
        offsets[r + 1] = at
    return offsets, data[:at]


@njit(nogil=True, cache=True)
def _credit_cards(idx: npt.NDArray[np.int64], key: np.uint64) -> npt.NDArray[np.uint8]:
    """'dddd dddd dddd dddd' per row, 19 bytes each."""
    n = len(idx)
    data = np.empty(n * 19, dtype=np.uint8)
    for r in range(n):
        state = row_hash(key, idx[r])
        at = r * 19
        for group in range(4):
            value = below32(draw(state, S_CARD, group), 10000)
            for d in range(3, -1, -1):
                data[at + d] = 48 + value % 10
                value //= 10
            if group < 3:
                data[at + 4] = 32
            at += 5
    return data


@njit(nogil=True, cache=True)
def _person_sizes(
    idx: npt.NDArray[np.int64],
    key: np.uint64,
    name_lengths: npt.NDArray[np.int32],
    city_lengths: npt.NDArray[np.int32],
    state_lengths: npt.NDArray[np.int32],
) -> npt.NDArray[np.int32]:
    """Bytes of a person before its extra: 8 + name + email + card + city + state."""
    out = np.empty(len(idx), dtype=np.int32)
    scratch = np.empty(128, dtype=np.uint8)
    for r in range(len(idx)):
        state = row_hash(key, idx[r])
        email = _next_string(state, S_EMAIL_USER, 7, scratch, 0) + 5
        email += _next_string(state, S_EMAIL_DOMAIN, 5, scratch, 0)
        size = 8 + name_lengths[_name_index(state)] + email + 19
        size += city_lengths[below32(draw(state, S_CITY, 0), 10)]
        size += state_lengths[below32(draw(state, S_STATE, 0), 6)]
        out[r] = size
    return out


@njit(nogil=True, cache=True)
def _auction_sizes(idx: npt.NDArray[np.int64], key: np.uint64) -> npt.NDArray[np.int32]:
    """Bytes of an auction before its extra: 8 + item name + description + 5 * 8."""
    out = np.empty(len(idx), dtype=np.int32)
    scratch = np.empty(128, dtype=np.uint8)
    for r in range(len(idx)):
        state = row_hash(key, idx[r])
        item = _next_string(state, S_ITEM, 20, scratch, 0)
        out[r] = 48 + item + _next_string(state, S_DESCRIPTION, 100, scratch, 0)
    return out


@njit(nogil=True, cache=True)
def _extras(
    idx: npt.NDArray[np.int64],
    key: np.uint64,
    sizes: npt.NDArray[np.int32],
    average: int,
    pool: npt.NDArray[np.uint8],
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.uint8]]:
    """Flink's nextExtra: padding that brings an event of `sizes[r]` bytes to `average`
    on average (+-20%), letters taken from `pool` at a random offset."""
    n = len(idx)
    offsets = np.empty(n + 1, dtype=np.int32)
    starts = np.empty(n, dtype=np.int32)
    offsets[0] = 0
    total = 0
    for r in range(n):
        state = row_hash(key, idx[r])
        length = 0
        if sizes[r] <= average:
            wanted = average - sizes[r]
            delta = (2 * wanted + 5) // 10  # round(wanted * 0.2)
            length = wanted - delta
            if delta > 0:
                length += below32(draw(state, S_EXTRA, 0), 2 * delta)
        starts[r] = below32(draw(state, S_EXTRA, 1), EXTRA_POOL_SPAN)
        total += length
        offsets[r + 1] = total
    data = np.empty(total, dtype=np.uint8)
    for r in range(n):
        copy_bytes(data, offsets[r], pool, starts[r], offsets[r + 1] - offsets[r])
    return offsets, data


# --- the generator -----------------------------------------------------------------------

Column = Callable[[npt.NDArray[np.int64]], pa.Array]

OPTIONS = (
    "nexmark.table",
    "nexmark.seed",
    "nexmark.events",
    "nexmark.events_per_second",
    "nexmark.start_time",
    "nexmark.event_gap",
    "nexmark.splits",
    "nexmark.max_chunk_size",
)


class NexmarkGenerator(Generator):
    """One Nexmark table ('person', 'auction' or 'bid') over the shared event stream."""

    def __init__(
        self,
        table: str,
        columns: list[tuple[str, pa.DataType]] | None = None,
        *,
        seed: int = 0,
        events: int | None = None,
        events_per_second: float | None = None,
        start_time_us: int | None = None,
        event_gap_us: int = 100,
        splits: int = 1,
        max_chunk_size: int | None = None,
    ) -> None:
        fields = TABLE_FIELDS[table]
        declared = list(fields.items()) if not columns else columns
        self.table = table
        self.schema = pa.schema([pa.field(name, data_type) for name, data_type in declared])
        self.event_time_column = "date_time" if "date_time" in self.schema.names else None
        self.events_per_second = events_per_second
        self.splits = splits
        self.seed = seed
        self.events = events
        self.start_time_us = (
            parse_timestamp_us("nexmark.start_time", DEFAULT_START_TIME)
            if start_time_us is None
            else start_time_us
        )
        self.event_gap_us = event_gap_us
        if max_chunk_size is not None:
            self.max_events_per_read = min(self.max_events_per_read, max_chunk_size)
        self._key = U64(mix64_py((seed & ((1 << 64) - 1)) ^ _NEXMARK_KEY))
        self._channel_memo: tuple[npt.NDArray[np.int64], npt.NDArray[np.int32]] | None = None
        self._builders = [self._builder(name, data_type) for name, data_type in declared]

    @classmethod
    def from_options(
        cls, columns: list[tuple[str, pa.DataType]], options: dict[str, str], default_splits: int
    ) -> NexmarkGenerator:
        opts = Options("nexmark", options)
        table = opts.take("nexmark.table")
        if table is None or table.strip().lower() not in TABLE_FIELDS:
            raise error_for(
                "22023",
                "option nexmark.table is required"
                if table is None
                else f'invalid value for option "nexmark.table": "{table}"',
                hint="nexmark.table is one of person, auction, bid.",
            )
        table = table.strip().lower()
        check_columns(table, columns)
        seed = opts.take_int("nexmark.seed", 0)
        events = opts.take_int("nexmark.events", None, minimum=0)
        rate = opts.take_float("nexmark.events_per_second", positive=True)
        start = opts.take("nexmark.start_time")
        gap = opts.take("nexmark.event_gap")
        splits = opts.take_int("nexmark.splits", max(1, default_splits), minimum=1)
        chunk = opts.take_int("nexmark.max_chunk_size", None, minimum=1)
        opts.finish(OPTIONS)
        return cls(
            table,
            columns,
            seed=0 if seed is None else seed,
            events=events,
            events_per_second=rate,
            start_time_us=None
            if start is None
            else parse_timestamp_us("nexmark.start_time", start),
            event_gap_us=parse_duration_us(
                "nexmark.event_gap", DEFAULT_EVENT_GAP if gap is None else gap
            ),
            splits=1 if splits is None else splits,
            max_chunk_size=chunk,
        )

    # -- positions ----------------------------------------------------------------------

    def events_in(self, split: int) -> int | None:
        if self.events is None:
            return None
        blocks, rest = divmod(self.events, PROPORTION)
        owned = blocks // self.splits + (1 if split < blocks % self.splits else 0)
        return owned * PROPORTION + (rest if blocks % self.splits == split else 0)

    def global_index(self, split: int, position: int) -> int:
        """The global event index of `position` of `split`."""
        block, offset = divmod(position, PROPORTION)
        return (block * self.splits + split) * PROPORTION + offset

    def event_time_us(self, split: int, position: int) -> int:
        """The event time (us since the epoch) of the event at `position` of `split`:
        every later event of the split happens at this time or later."""
        return self.start_time_us + self.global_index(split, position) * self.event_gap_us

    def _columns(self, split: int, start: int, stop: int) -> list[pa.Array]:
        lo, hi = TABLE_OFFSETS[self.table]
        idx = _table_indices(start, stop, split, self.splits, lo, hi)
        columns = [build(idx) for build in self._builders]
        self._channel_memo = None
        return columns

    # -- columns ------------------------------------------------------------------------

    def _builder(self, name: str, data_type: pa.DataType) -> Column:
        key = self._key
        if name == "date_time":
            return lambda idx: timestamp_array(
                self.start_time_us + idx * self.event_gap_us, data_type
            )
        if name == "extra":
            return self._extra_builder()
        builders: dict[str, dict[str, Column]] = {
            "bid": {
                "auction": lambda idx: pa.array(_bid_auctions(idx, key)),
                "bidder": lambda idx: pa.array(_bid_bidders(idx, key)),
                "price": lambda idx: pa.array(_prices(idx, key, S_BID_PRICE, U64(0))),
                "channel": lambda idx: channel_pools()[0].take(self._channels_of(idx)),
                "url": lambda idx: channel_pools()[1].take(self._channels_of(idx)),
            },
            "auction": {
                "id": lambda idx: pa.array(_auction_ids(idx).astype(np.int64) + FIRST_AUCTION_ID),
                "item_name": lambda idx: string_array(*_string_column(idx, key, S_ITEM, 20)),
                "description": lambda idx: string_array(
                    *_string_column(idx, key, S_DESCRIPTION, 100)
                ),
                "initial_bid": lambda idx: pa.array(_prices(idx, key, S_INITIAL_BID, U64(0))),
                "reserve": lambda idx: pa.array(_prices(idx, key, S_INITIAL_BID, S_RESERVE)),
                "expires": lambda idx: timestamp_array(
                    _expires(idx, key, self.start_time_us, self.event_gap_us), data_type
                ),
                "seller": lambda idx: pa.array(_auction_sellers(idx, key)),
                "category": lambda idx: pa.array(
                    _choices(idx, key, S_CATEGORY, NUM_CATEGORIES) + FIRST_CATEGORY_ID
                ),
            },
            "person": {
                "id": lambda idx: pa.array(idx // PROPORTION + FIRST_PERSON_ID),
                "name": lambda idx: person_pools()[0].take(_name_indices(idx, key)),
                "email_address": lambda idx: string_array(*_emails(idx, key)),
                "credit_card": lambda idx: string_array(
                    np.arange(0, 19 * (len(idx) + 1), 19, dtype=np.int32),
                    _credit_cards(idx, key),
                ),
                "city": lambda idx: person_pools()[1].take(
                    _choices(idx, key, S_CITY, 10).astype(np.int32)
                ),
                "state": lambda idx: person_pools()[2].take(
                    _choices(idx, key, S_STATE, 6).astype(np.int32)
                ),
            },
        }
        return builders[self.table][name]

    def _channels_of(self, idx: npt.NDArray[np.int64]) -> npt.NDArray[np.int32]:
        """Channel choices of the rows `idx`, made once for the channel and url columns."""
        cached = self._channel_memo
        if cached is None or cached[0] is not idx:
            cached = self._channel_memo = (idx, _channel_indices(idx, self._key))
        return cached[1]

    def _extra_builder(self) -> Column:
        key = self._key
        if self.table == "bid":

            def sizes(idx: npt.NDArray[np.int64]) -> npt.NDArray[np.int32]:
                return np.full(len(idx), 32, dtype=np.int32)

            average = AVG_BID_BYTES
        elif self.table == "auction":

            def sizes(idx: npt.NDArray[np.int64]) -> npt.NDArray[np.int32]:
                return _auction_sizes(idx, key)

            average = AVG_AUCTION_BYTES
        else:
            names, cities, states = person_pools()

            def sizes(idx: npt.NDArray[np.int64]) -> npt.NDArray[np.int32]:
                return _person_sizes(idx, key, names.lengths, cities.lengths, states.lengths)

            average = AVG_PERSON_BYTES
        return lambda idx: string_array(*_extras(idx, key, sizes(idx), average, extra_pool()))


def _auction_ids(idx: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Base-0 auction ids of auction events (offsets 1..3 of their cycle)."""
    return (idx // PROPORTION) * 3 + idx % PROPORTION - 1


def check_columns(table: str, columns: list[tuple[str, pa.DataType]]) -> None:
    """42703 for a declared column that is no field of `table`, 42804 for a wrong type."""
    check_unique(columns)
    fields = TABLE_FIELDS[table]
    for name, data_type in columns:
        expected = fields.get(name)
        if expected is None:
            raise error_for(
                "42703",
                f'column "{name}" is not a field of the nexmark {table} table',
                hint=f"The {table} fields are " + ", ".join(fields) + ".",
            )
        same = data_type == expected or (
            pa.types.is_timestamp(expected)
            and pa.types.is_timestamp(data_type)
            and data_type.unit == "us"
            and data_type.tz in (None, "UTC", "+00:00")
        )
        if not same:
            allowed = sql_type_name(expected)
            if pa.types.is_timestamp(expected):
                allowed += " or timestamp with time zone"
            raise error_for(
                "42804",
                f'column "{name}" of the nexmark {table} table is of type {allowed}, '
                f"but is declared as {sql_type_name(data_type)}",
            )
