"""The input as units of work: row ranges of the input files, each at most
`output.unit_rows` rows, keyed by the job fingerprint, the file's identity and the range.

A unit is the unit of commit: its rows' records and rejects are published together once
the last of them is written, so a crash loses at most the units in flight. Ranges follow
the file's row groups: small row groups are taken whole, several to a unit; a row group
bigger than `unit_rows` is cut into near-equal slices.
"""

import bisect
import hashlib
from dataclasses import dataclass

from jobs.plan.input_files import InputFile
from operators.read_units import RowGroupSlice, UnitRead


@dataclass(frozen=True)
class Unit:
    file: InputFile
    start: int  # the unit's first row, counted from the file's start
    rows: int
    key: str
    ids: tuple = ()  # only these rows of the range, by id (a retry of rejects); empty: every row

    @property
    def path(self) -> str:
        return self.file.path

    @property
    def location(self) -> str:
        """The unit as a user finds it: its file and rows."""
        return f"{self.path} rows {self.start}-{self.start + self.rows}"

    @property
    def expected_rows(self) -> int:
        """The rows a run of this unit answers."""
        return len(self.ids) if self.ids else self.rows

    def read(self) -> UnitRead:
        """What a read task needs: the row groups (or parts of one) that hold the range."""
        slices, group_start, end = [], 0, self.start + self.rows
        for group, group_rows in enumerate(self.file.row_groups):
            first, last = max(self.start, group_start), min(end, group_start + group_rows)
            if first < last:
                slices.append(RowGroupSlice(group=group, offset=first - group_start, rows=last - first,
                                            whole=last - first == group_rows))
            group_start += group_rows
        return UnitRead(key=self.key, path=self.path, size=self.file.size, rows=self.rows, slices=tuple(slices), ids=self.ids)


def unit_key(job_fingerprint: str, file: InputFile, start: int, rows: int) -> str:
    identity = f"{job_fingerprint}\0{file.path}\0{file.size}\0{file.version}\0{start}\0{rows}"
    return hashlib.sha256(identity.encode()).hexdigest()[:20]


def whole_file_key(job_fingerprint: str, file: InputFile) -> str:
    """The key k2batch gave a unit before units were row ranges (one unit per file):
    how an entry of such an output is recognized, and its file found unchanged."""
    identity = f"{job_fingerprint}\0{file.path}\0{file.size}\0{file.version}"
    return hashlib.sha256(identity.encode()).hexdigest()[:20]


def make_unit(job_fingerprint: str, file: InputFile, start: int, rows: int) -> Unit:
    return Unit(file=file, start=start, rows=rows, key=unit_key(job_fingerprint, file, start, rows))


def unit_ranges(row_groups: tuple[int, ...], unit_rows: int) -> list[tuple[int, int]]:
    """(start, rows) of each unit of a file with these row groups: consecutive row groups
    whole while they fit in `unit_rows` together; a bigger one in near-equal slices."""
    ranges: list[tuple[int, int]] = []
    open_start, open_rows, position = 0, 0, 0

    def close() -> None:
        if open_rows:
            ranges.append((open_start, open_rows))

    for rows in row_groups:
        if rows > unit_rows:
            close()
            open_rows = 0
            pieces = -(-rows // unit_rows)
            base, extra = divmod(rows, pieces)
            start = position
            for piece in range(pieces):
                size = base + (piece < extra)
                ranges.append((start, size))
                start += size
        elif rows:
            if open_rows + rows > unit_rows:
                close()
                open_rows = 0
            if not open_rows:
                open_start = position
            open_rows += rows
        position += rows
    close()
    return ranges


def plan_units(files: list[InputFile], unit_rows: int, job_fingerprint: str) -> list[Unit]:
    """Every file's units, in file and row order."""
    return [make_unit(job_fingerprint, file, start, rows) for file in files for start, rows in unit_ranges(file.row_groups, unit_rows)]


def uncovered(unit: Unit, covered: list[tuple[int, int]], job_fingerprint: str) -> list[Unit]:
    """The parts of `unit` that no (start, rows) range of `covered` (sorted, disjoint: the
    committed units of its file) holds: the unit itself when none touches it, nothing when
    they cover it, else one unit per gap (the file was committed with another `unit_rows`)."""
    gaps, position, end = [], unit.start, unit.start + unit.rows
    first = max(0, bisect.bisect_right(covered, unit.start, key=lambda r: r[0]) - 1)
    for start, rows in covered[first:]:
        if start >= end:
            break
        if start + rows <= position:
            continue
        if start > position:
            gaps.append((position, start - position))
        position = max(position, start + rows)
    if position < end:
        gaps.append((position, end - position))
    if gaps == [(unit.start, unit.rows)]:
        return [unit]
    return [make_unit(job_fingerprint, unit.file, start, rows) for start, rows in gaps]
