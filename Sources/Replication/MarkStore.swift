/// The document's marks: an add/remove set of immutable marks, keyed by mark id.
///
/// Stored per author rather than in one dictionary keyed by `OpID`: `Document.apply` accepts an
/// author's operations only with strictly increasing counters, so each author's marks arrive in
/// id order and are appended to that author's list, and a mark is found by binary search over
/// its author's counters. Replica ids (of mark authors and of the items marks are drawn on) are
/// interned to small indices, so a stored mark holds no 32-byte key; each author's list grows in
/// fixed-size chunks, so it is never copied as it grows. A removal of a mark that has not been
/// added (yet) waits in `pendingRemovals` and is taken over when the mark arrives.
///
/// The content is exactly the old `[OpID: MarkRecord]`'s: a mark id is known if it was added or
/// removed; it is removed for good once a removal arrives, before or after its addition.
struct MarkStore: Sendable {
    /// One stored mark: its author is the column it is stored in.
    struct Entry: Sendable {
        /// The mark id's counter (the id's replica is the column's).
        var counter: UInt64
        /// The counter of the item it is drawn on.
        var itemCounter: UInt64
        /// When it was drawn.
        var time: HLC
        /// The index of the item's replica in `replicas`.
        var itemReplica: UInt32
        /// Removed for good.
        var removed: Bool
        /// The mark itself.
        var mark: Mark
    }

    /// One author's marks, strictly ascending by counter, in chunks of `chunkSize` (all full
    /// but the last), so appending never copies the marks already stored.
    struct Column: Sendable {
        /// Entries per chunk: a power of two, so a position splits into chunk and offset by shifting.
        static let chunkShift = 10
        static let chunkSize = 1 << chunkShift

        private var chunks: [[Entry]] = []
        private(set) var count = 0

        subscript(position: Int) -> Entry {
            get { chunks[position >> Self.chunkShift][position & (Self.chunkSize - 1)] }
            set { chunks[position >> Self.chunkShift][position & (Self.chunkSize - 1)] = newValue }
        }

        var last: Entry? { chunks.last?.last }

        var isEmpty: Bool { count == 0 }

        var indices: Range<Int> { 0..<count }

        mutating func append(_ entry: Entry) {
            if chunks.isEmpty {
                // The first chunk grows as arrays do, so an author with a few marks costs a few entries.
                chunks.append([])
            } else if chunks[chunks.count - 1].count == Self.chunkSize {
                var chunk: [Entry] = []
                chunk.reserveCapacity(Self.chunkSize)
                chunks.append(chunk)
            }
            chunks[chunks.count - 1].append(entry)
            count += 1
        }

        /// Inserts in the middle: rare (see `MarkStore.add`), so the chunks are simply rebuilt.
        mutating func insert(_ entry: Entry, at position: Int) {
            var all = chunks.flatMap { $0 }
            all.insert(entry, at: position)
            chunks = []
            count = 0
            for entry in all { append(entry) }
        }

        /// The position of `counter`, or where it would be inserted.
        func lowerBound(_ counter: UInt64) -> Int {
            var low = 0
            var high = count
            while low < high {
                let middle = (low + high) / 2
                if self[middle].counter < counter { low = middle + 1 } else { high = middle }
            }
            return low
        }

        /// The position of the entry with `counter`, if stored.
        func position(of counter: UInt64) -> Int? {
            let position = lowerBound(counter)
            return position < count && self[position].counter == counter ? position : nil
        }
    }

    /// Interned replica ids, in order of first use.
    private(set) var replicas: [ReplicaID] = []
    private var indices: [ReplicaID: Int] = [:]
    /// Per replica index, the marks that replica added.
    private(set) var columns: [Column] = []
    /// Ids removed before (or without) their addition.
    private(set) var pendingRemovals: Set<OpID> = []
    /// Hints for the replica lookups: consecutive operations mostly name the same replicas.
    private var authorHint = 0
    private var itemHint = 0

    /// Marks added (removed or not).
    private(set) var addedCount = 0

    /// The index of `replica`, interning it if new; the index `hint` is tried first.
    private mutating func intern(_ replica: ReplicaID, hint: Int) -> Int {
        if hint < replicas.count, replicas[hint] == replica { return hint }
        if let index = indices[replica] { return index }
        let index = replicas.count
        replicas.append(replica)
        indices[replica] = index
        columns.append(Column())
        return index
    }

    /// Records the addition of mark `id` on `item`.
    mutating func add(_ id: OpID, item: OpID, mark: Mark, time: HLC) {
        let column = intern(id.replica, hint: authorHint)
        let itemIndex = intern(item.replica, hint: itemHint)
        authorHint = column
        itemHint = itemIndex
        let itemReplica = UInt32(itemIndex)
        var removed = false
        if !pendingRemovals.isEmpty, pendingRemovals.remove(id) != nil { removed = true }
        let entry = Entry(
            counter: id.counter, itemCounter: item.counter, time: time, itemReplica: itemReplica, removed: removed, mark: mark)
        if let last = columns[column].last, last.counter >= id.counter {
            // Not reachable through `Document.apply` (an author's counters only increase), but
            // kept total: as a dictionary would, the id's entry is overwritten, or inserted in place.
            if let position = columns[column].position(of: id.counter) {
                columns[column][position] = Entry(
                    counter: id.counter, itemCounter: item.counter, time: time, itemReplica: itemReplica,
                    removed: removed || columns[column][position].removed, mark: mark)
            } else {
                columns[column].insert(entry, at: columns[column].lowerBound(id.counter))
                addedCount += 1
            }
        } else {
            columns[column].append(entry)
            addedCount += 1
        }
    }

    /// Records the removal of mark `id`, which may not have been added yet.
    mutating func remove(_ id: OpID) {
        let column: Int?
        if authorHint < replicas.count, replicas[authorHint] == id.replica {
            column = authorHint
        } else {
            column = indices[id.replica]
        }
        if let column, let position = columns[column].position(of: id.counter) {
            columns[column][position].removed = true
            return
        }
        pendingRemovals.insert(id)
    }

    /// The id of the mark at `position` in `column`.
    func id(column: Int, position: Int) -> OpID {
        OpID(counter: columns[column][position].counter, replica: replicas[column])
    }

    /// The item of a stored mark.
    func item(of entry: Entry) -> OpID {
        OpID(counter: entry.itemCounter, replica: replicas[Int(entry.itemReplica)])
    }

    /// Calls `body` with the column and position of every added mark, ascending by mark id
    /// (counter, then replica id): a merge of the columns.
    func forEachInIDOrder(_ body: (_ column: Int, _ position: Int) throws -> Void) rethrows {
        let used = columns.indices.filter { !columns[$0].isEmpty }.sorted { replicas[$0] < replicas[$1] }
        if used.count == 1 {
            for position in columns[used[0]].indices { try body(used[0], position) }
            return
        }
        if used.count > 16 {
            // Many authors: sort all marks once rather than scan every column for each.
            var all: [(counter: UInt64, rank: Int, column: Int, position: Int)] = []
            all.reserveCapacity(addedCount)
            for (rank, column) in used.enumerated() {
                for position in columns[column].indices { all.append((columns[column][position].counter, rank, column, position)) }
            }
            all.sort { ($0.counter, $0.rank) < ($1.counter, $1.rank) }
            for mark in all { try body(mark.column, mark.position) }
            return
        }
        // A few authors: repeatedly take the smallest head; ties of counters go to the smaller replica id (rank).
        var heads = [Int](repeating: 0, count: used.count)
        while true {
            var best = -1
            var bestCounter = UInt64.max
            for rank in used.indices {
                let column = used[rank]
                let head = heads[rank]
                guard head < columns[column].count else { continue }
                let counter = columns[column][head].counter
                if best < 0 || counter < bestCounter {
                    best = rank
                    bestCounter = counter
                }
            }
            guard best >= 0 else { return }
            try body(used[best], heads[best])
            heads[best] += 1
        }
    }

    /// Every known mark id (added, or only removed so far), ascending.
    var knownIDs: [OpID] {
        var ids: [OpID] = []
        ids.reserveCapacity(addedCount + pendingRemovals.count)
        forEachInIDOrder { column, position in ids.append(id(column: column, position: position)) }
        guard !pendingRemovals.isEmpty else { return ids }
        ids.append(contentsOf: pendingRemovals)
        ids.sort()
        return ids
    }

    /// Checks each column is strictly ascending and the count is right.
    func checkInvariants() throws(ReplicationError) {
        var total = 0
        for (column, entries) in columns.enumerated() {
            total += entries.count
            for index in entries.indices.dropFirst() where entries[index - 1].counter >= entries[index].counter {
                throw .invariantViolated("marks of \(replicas[column]) not strictly ascending")
            }
        }
        guard total == addedCount else { throw .invariantViolated("mark count \(addedCount) but \(total) stored") }
        for id in pendingRemovals {
            if let column = indices[id.replica], columns[column].position(of: id.counter) != nil {
                throw .invariantViolated("pending removal of mark \(id), which is stored")
            }
        }
    }
}
