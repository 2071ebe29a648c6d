"""The collector's write-ahead log: framing, torn tails, group commit, positions, segments."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from weir.errors import WeirError
from weir.streams.wal import FRAME, LogCorrupted, WriteAheadLog


def records(log: WriteAheadLog, start: int = 0) -> list[tuple[int, bytes]]:
    return list(log.read(start))


def segment_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.wal"))


def test_records_read_back_with_their_positions(tmp_path: Path) -> None:
    log = WriteAheadLog(tmp_path / "wal")
    first = log.append([b"one", b"two"])
    second = log.append([b"three"])
    assert first.positions == (0, FRAME.size + 3)
    assert first.end == second.start == 2 * FRAME.size + 6
    assert second.end == log.end
    assert records(log) == [(0, b"one"), (11, b"two"), (22, b"three")]
    assert records(log, first.end) == [(22, b"three")]  # reading resumes at any record
    log.close()


def test_an_empty_record_is_refused(tmp_path: Path) -> None:
    log = WriteAheadLog(tmp_path / "wal")
    with pytest.raises(WeirError, match="1 byte"):
        log.append([b""])
    log.close()


@pytest.mark.parametrize(
    "tail",
    [
        FRAME.pack(100, 0) + b"short",  # a record cut off mid-payload
        b"\x05\x00",  # a frame header cut off
        FRAME.pack(4, 12345) + b"oops",  # a whole record whose checksum fails
        b"\x00" * 64,  # zeros past the end of the data
    ],
)
def test_a_torn_tail_is_cut_on_open(tmp_path: Path, tail: bytes) -> None:
    folder = tmp_path / "wal"
    log = WriteAheadLog(folder)
    done = log.append([b"kept-1", b"kept-2"])
    log.close()
    [segment] = segment_files(folder)
    with segment.open("ab") as handle:
        handle.write(tail)

    reopened = WriteAheadLog(folder)
    assert reopened.truncated_bytes == len(tail)
    assert reopened.end == done.end
    assert [payload for _, payload in records(reopened)] == [b"kept-1", b"kept-2"]
    after = reopened.append([b"next"])
    assert after.start == done.end  # positions go on from the last good record
    assert [payload for _, payload in records(reopened)] == [b"kept-1", b"kept-2", b"next"]
    reopened.close()


def test_group_commit_from_threads(tmp_path: Path) -> None:
    log = WriteAheadLog(tmp_path / "wal")
    threads, appends = 8, 40
    results: dict[int, list[tuple[int, ...]]] = {n: [] for n in range(threads)}
    barrier = threading.Barrier(threads)

    def writer(number: int) -> None:
        barrier.wait()
        for i in range(appends):
            done = log.append([f"{number}:{i}:a".encode(), f"{number}:{i}:b".encode()])
            results[number].append(done.positions)

    workers = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    stored = dict(records(log))
    assert len(stored) == threads * appends * 2
    for number, appended in results.items():
        for i, positions in enumerate(appended):
            assert [stored[p] for p in positions] == [
                f"{number}:{i}:a".encode(),
                f"{number}:{i}:b".encode(),
            ]
        # one thread's appends land in the order it made them
        assert [p[0] for p in appended] == sorted(p[0] for p in appended)
    # concurrent appends shared fsyncs: fewer syncs than appends
    assert 0 < log.fsyncs < threads * appends
    log.close()


def test_positions_run_on_across_segments_and_released_segments(tmp_path: Path) -> None:
    folder = tmp_path / "wal"
    log = WriteAheadLog(folder, segment_bytes=4096)
    payload = b"x" * 1000
    positions = [log.append([payload]).positions[0] for _ in range(20)]
    assert positions == sorted(positions) and len(set(positions)) == 20
    segments = segment_files(folder)
    assert len(segments) > 3
    assert int(segments[0].stem) == 0
    middle = positions[10]
    assert [p for p, _ in records(log, middle)] == positions[10:]

    deleted = log.release(middle)
    assert deleted > 0
    assert log.start <= middle  # nothing at or after the position is deleted
    assert [p for p, _ in records(log, middle)] == positions[10:]
    log.release(log.end)
    assert segment_files(folder)  # the segment being written is never deleted
    end = log.end
    log.close()

    reopened = WriteAheadLog(folder, segment_bytes=4096)
    assert reopened.end == end
    assert reopened.append([b"later"]).start == end
    reopened.close()


def test_a_new_log_starts_at_the_given_position(tmp_path: Path) -> None:
    log = WriteAheadLog(tmp_path / "wal", start_at=5000)
    assert log.start == log.end == 5000
    assert log.append([b"a"]).positions == (5000,)
    log.close()


def test_a_gap_between_segments_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "wal"
    log = WriteAheadLog(folder, segment_bytes=4096)
    for _ in range(10):
        log.append([b"y" * 1000])
    log.close()
    segments = segment_files(folder)
    segments[1].unlink()
    with pytest.raises(LogCorrupted, match="gap"):
        WriteAheadLog(folder, segment_bytes=4096)


def test_a_corrupt_sealed_segment_fails_loudly_on_read(tmp_path: Path) -> None:
    folder = tmp_path / "wal"
    log = WriteAheadLog(folder, segment_bytes=4096)
    for _ in range(10):
        log.append([b"z" * 1000])
    first = segment_files(folder)[0]
    data = bytearray(first.read_bytes())
    data[FRAME.size + 10] ^= 0xFF
    first.write_bytes(bytes(data))
    with pytest.raises(LogCorrupted, match="checksum"):
        records(log)
    log.close()


def test_seal_starts_a_segment_so_flushed_data_can_be_deleted(tmp_path: Path) -> None:
    folder = tmp_path / "wal"
    log = WriteAheadLog(folder)
    done = log.append([b"personal", b"data"])
    log.seal()
    log.seal()  # an empty segment is not sealed again
    assert [int(p.stem) for p in segment_files(folder)] == [0, done.end]
    assert log.release(done.end) == 1
    assert [int(p.stem) for p in segment_files(folder)] == [done.end]
    assert log.append([b"more"]).start == done.end
    assert records(log) == [(done.end, b"more")]
    log.close()


def test_one_writer_per_log(tmp_path: Path) -> None:
    folder = tmp_path / "wal"
    log = WriteAheadLog(folder)
    with pytest.raises(WeirError, match="being written by pid"):
        WriteAheadLog(folder)
    log.close()
    WriteAheadLog(folder).close()  # free again once closed
