extension Document {
    /// Checks the document's internal consistency; for tests and debugging.
    ///
    /// - Throws: `ReplicationError.invariantViolated` naming the first broken invariant.
    public func checkInvariants() throws(ReplicationError) {
        func require(_ condition: Bool, _ what: @autoclosure () -> String) throws(ReplicationError) {
            if !condition { throw .invariantViolated(what()) }
        }
        func checkStamp(_ stamp: OpID, _ what: String) throws(ReplicationError) {
            try require(stamp.counter >= 1 && stamp.counter <= maxCounter, "\(what): stamp \(stamp) above max counter")
            try require(
                stamp.counter <= lastCounters[stamp.replica] ?? 0, "\(what): stamp \(stamp) beyond its author's counters")
        }

        for (author, counter) in lastCounters {
            try require(vector[author] >= 1, "counters of \(author) without a batch")
            try require(counter <= maxCounter, "counter of \(author) above max counter")
        }
        for (participant, register) in profiles {
            try require(register.stamp.replica == participant, "profile of \(participant) written by another")
            try checkStamp(register.stamp, "profile")
        }
        for (id, record) in items {
            if record.creation != nil {
                try require(record.position != nil, "item \(id) created without a position")
                try checkStamp(id, "item creation")
            }
            if let position = record.position { try checkStamp(position.stamp, "item position") }
            for (key, register) in record.fields {
                try require(register.value.key == key, "item \(id) field \(key) holds another field")
                try checkStamp(register.stamp, "item field")
            }
        }
        try marks.checkInvariants()
        for column in marks.columns.indices {
            for position in marks.columns[column].indices { try checkStamp(marks.id(column: column, position: position), "mark") }
        }
        for (key, register) in viewportRegisters {
            try require(register.stamp.replica == key.participant, "viewport of \(key.participant) written by another")
            try checkStamp(register.stamp, "viewport")
        }
        for (participant, register) in focusRegisters {
            try require(register.stamp.replica == participant, "focus of \(participant) written by another")
            try checkStamp(register.stamp, "focus")
        }
        for list in [chat.map(\.id), commerce.map(\.id)] {
            try require(zip(list, list.dropFirst()).allSatisfy { $0 < $1 }, "append-only list not strictly ascending")
            for id in list { try checkStamp(id, "list entry") }
        }
        let panel = self.panel
        try require(
            zip(panel, panel.dropFirst()).allSatisfy { ($0.position, $0.id) < ($1.position, $1.id) }, "panel out of order")
        for item in panel {
            try require(isVisible(item: item.id), "removed item \(item.id) in the panel")
            try require(item.fields.keys.allSatisfy { item.kind.fields.contains($0) }, "item \(item.id) shows a foreign field")
            for mark in marks(on: item.id) { try require(mark.item == item.id, "mark \(mark.id) on the wrong item") }
        }
        for mark in visibleMarks { try require(isVisible(item: mark.item), "mark \(mark.id) visible on a hidden item") }
        for viewport in viewports {
            try require(isVisible(item: viewport.item), "viewport on hidden item \(viewport.item)")
            try require(Viewport.zoomRange.contains(viewport.viewport.zoom), "viewport zoom out of range")
        }
    }
}
