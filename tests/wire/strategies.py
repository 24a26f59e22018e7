"""Hypothesis strategies for wire frames and change lists (shared by the wire tests)."""

from __future__ import annotations

from hypothesis import strategies as st

from edge_actors.wire import (
    LSN_MAX,
    PROTOCOL_VERSION,
    Ack,
    Change,
    Chunk,
    Done,
    ErrorFrame,
    Frame,
    Hello,
    HelloAck,
    SnapshotDone,
    SnapshotPart,
)

counts = st.integers(min_value=0, max_value=LSN_MAX)
ids = st.text(min_size=1, max_size=40)
workloads = st.from_regex(r"\A[a-z0-9][a-z0-9._-]{0,20}\Z")
values = st.none() | st.binary(max_size=300)


@st.composite
def changes(draw: st.DrawFn, *, min_size: int = 1, max_size: int = 40) -> list[Change]:
    """A list of changes with strictly increasing LSNs, as a store scan yields them."""
    lsns = draw(
        st.lists(
            st.integers(min_value=1, max_value=LSN_MAX),
            min_size=min_size,
            max_size=max_size,
            unique=True,
        )
    )
    return [
        Change(lsn=lsn, key=draw(st.text(max_size=30)), value=draw(values)) for lsn in sorted(lsns)
    ]


@st.composite
def chunks(draw: st.DrawFn) -> Chunk:
    """A header-valid raw chunk (its payload need not decode to changes)."""
    lsn_from = draw(counts)
    payload = draw(st.binary(max_size=200))
    return Chunk(
        migration_id=draw(ids),
        workload=draw(workloads),
        seq=draw(counts),
        lsn_from=lsn_from,
        lsn_to=draw(st.integers(min_value=lsn_from, max_value=LSN_MAX)),
        codec="raw",
        raw_len=len(payload),
        checksum=draw(st.integers(min_value=0, max_value=2**32 - 1)),
        payload=payload,
    )


frames: st.SearchStrategy[Frame] = st.one_of(
    st.builds(
        Hello,
        protocol=st.just(PROTOCOL_VERSION),
        migration_id=ids,
        workload=workloads,
        transfer_id=ids,
    ),
    st.builds(HelloAck, protocol=st.just(PROTOCOL_VERSION), applied_lsn=counts),
    chunks(),
    st.builds(Ack, seq=counts, applied_lsn=counts),
    st.builds(Done, seq=counts, lsn=counts),
    st.builds(
        SnapshotPart,
        migration_id=ids,
        workload=workloads,
        seq=counts,
        offset=counts,
        checksum=st.integers(min_value=0, max_value=2**32 - 1),
        payload=st.binary(max_size=256),
    ),
    st.builds(
        SnapshotDone,
        seq=counts,
        lsn=counts,
        records=counts,
        bytes=counts,
        digest=st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
        size=counts,
    ),
    st.builds(ErrorFrame, code=st.text(min_size=1, max_size=64), message=st.text(max_size=200)),
)
