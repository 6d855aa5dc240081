/// `cvpeer-bench replication`: the document CRDT on three workloads, against Yrs (Yjs' Rust
/// core, through its Python bindings pycrdt) doing the same edits in the same run.
///
/// (a) 100,000 marks made on A (sealed in batches of 256) and applied to an empty B;
/// (b) two replicas with 50,000 concurrent edits each, merged through real sync messages;
/// (c) reopening a 100,000-operation document from a SQLite store (cvpeer only).
///
/// Each workload runs in a fresh child process (`--workload`), so its peak memory is its own;
/// Benchmarks/yrs_reference.py likewise runs once per workload. Exits non-zero if any pair of
/// replicas fails to converge.
enum ReplicationSuite {
    static let suite = Suite(
        name: "replication",
        summary: "document CRDT: 100k marks, 2x50k concurrent edits, reopening 100k ops from SQLite; vs Yrs (pycrdt)",
        run: run)

    static func run(_ options: BenchOptions) -> Bool {
        if let workload = options.workload { return ReplicationWorkloads.runChild(workload, options) }
        return runAll(options)
    }

    /// One child's `result KEY VALUE` lines.
    struct Results {
        var values: [String: String] = [:]

        subscript(key: String) -> String? { values[key] }
        func number(_ key: String) -> Double? { values[key].flatMap { Double($0) } }
        func integer(_ key: String) -> Int? { values[key].flatMap { Int($0) } }
    }

    /// Runs this program again for one workload and collects its results; nil (after saying why) on failure.
    static func child(_ workload: String, _ options: BenchOptions, store: String? = nil) -> Results? {
        var arguments = ["replication", "--workload", workload]
        if options.quick { arguments.append("--quick") }
        if let store { arguments += ["--store", store] }
        guard let finished = Subprocess.run(Subprocess.ownExecutable, arguments) else {
            print("replication: cannot start \(Subprocess.ownExecutable) as a child process")
            return nil
        }
        guard finished.succeeded else {
            print("replication: workload \(workload) failed (\(finished.ending))")
            return nil
        }
        var results = Results()
        for line in finished.output.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 2)
            guard parts.count == 3, parts[0] == "result" else { continue }
            results.values[String(parts[1])] = String(parts[2])
        }
        return results
    }

    // MARK: The whole suite

    static func runAll(_ options: BenchOptions) -> Bool {
        let sizes = ReplicationWorkloads.Sizes(quick: options.quick)
        let runs = options.quick ? 1 : 3
        let reference = YrsReference.locate()
        var failures: [String] = []
        var referenceProblems: [String] = []

        print("replication: cvpeer's document CRDT vs Yrs (Yjs' Rust core) through pycrdt, measured in the same run")
        print(
            "each workload in a fresh process, median of \(runs) run\(runs == 1 ? "" : "s")"
                + "\(options.quick ? " (--quick: 10x smaller workloads, a smoke run only)" : "");"
                + " peak = the process's peak resident memory (ru_maxrss) after the timed work, before the convergence check")
        switch reference {
        case let .available(_, version): print("reference: pycrdt \(version) (Yrs) on python3")
        case let .unavailable(reason): print("reference: Yrs skipped: \(reason)")
        }
        print()

        // (a) and (b): cvpeer and Yrs alternate run by run, so drift hits both alike.
        var cv: [String: [Results]] = [:]
        var yrs: [String: [JSONValue]] = [:]
        for workload in ["a", "b"] {
            for _ in 0..<runs {
                guard let results = child(workload, options) else { return false }
                if results["hash_equal"] != "1" { failures.append("(\(workload)) the replicas' state hashes differ") }
                cv[workload, default: []].append(results)
                guard case let .available(script, _) = reference else { continue }
                switch YrsReference.run(script: script, workload: workload, quick: options.quick) {
                case let .success(json):
                    if json["equal"]?.bool != true { referenceProblems.append("(\(workload)) Yrs's two documents differ") }
                    yrs[workload, default: []].append(json)
                case let .failure(problem): referenceProblems.append("(\(workload)) \(problem.message)")
                }
            }
            if Set(cv[workload, default: []].compactMap { $0["hash"] }).count > 1 {
                failures.append("(\(workload)) the state hash differs from run to run")
            }
        }

        // (c): write the store once (untimed), then reopen it in fresh processes.
        guard let folder = Subprocess.makeTemporaryFolder(prefix: "cvpeer-bench") else {
            print("replication: cannot create a scratch folder")
            return false
        }
        defer { Subprocess.removeFolder(folder, containing: ReplicationWorkloads.storeFiles) }
        guard let written = child("c-write", options, store: folder) else { return false }
        var cvC: [Results] = []
        for _ in 0..<runs {
            guard let results = child("c", options, store: folder) else { return false }
            if results["hash"] != written["hash"] {
                failures.append("(c) the reopened document's state hash differs from the written one")
            }
            if results["unreadable"] != "0" { failures.append("(c) \(results["unreadable"] ?? "?") stored batches did not open") }
            cvC.append(results)
        }

        printReport(
            sizes: sizes, a: cv["a", default: []], b: cv["b", default: []], c: cvC, written: written, yrsA: yrs["a", default: []],
            yrsB: yrs["b", default: []], reference: reference)

        if !referenceProblems.isEmpty {
            print()
            for problem in referenceProblems { print("reference problem: \(problem)") }
        }
        if !failures.isEmpty {
            print()
            for failure in Set(failures).sorted() { print("FAILED: \(failure)") }
            return false
        }
        return true
    }

    // MARK: The report

    /// One table row; nil cells print as "—".
    struct Row {
        var label: String
        var seconds: Double?
        var operations: Int?
        var peakKiB: Int?
        var yrsSeconds: Double?
        var yrsPeakKiB: Int?
    }

    static func printReport(
        sizes: ReplicationWorkloads.Sizes, a: [Results], b: [Results], c: [Results], written: Results, yrsA: [JSONValue],
        yrsB: [JSONValue], reference: YrsReference
    ) {
        func cv(_ runs: [Results], _ key: String) -> Double? {
            let values = runs.compactMap { $0.number(key) }
            return values.isEmpty ? nil : median(values)
        }
        func cvSum(_ runs: [Results], _ keys: [String]) -> Double? {
            let values = runs.compactMap { run -> Double? in
                let parts = keys.compactMap { run.number($0) }
                return parts.count == keys.count ? parts.reduce(0, +) : nil
            }
            return values.isEmpty ? nil : median(values)
        }
        func yrs(_ runs: [JSONValue], _ key: String) -> Double? {
            let values = runs.compactMap { $0[key]?.double }
            return values.isEmpty ? nil : median(values)
        }
        func peak(_ runs: [Results]) -> Int? { runs.compactMap { $0.integer("peak_kib") }.max() }
        func yrsPeak(_ runs: [JSONValue]) -> Int? { runs.compactMap { $0["peak_kib"]?.double }.max().map { Int($0) } }

        let opsA = a.first?.integer("ops")
        let opsB = b.first?.integer("ops")
        let opsC = written.integer("ops")
        let batchesA = a.first?.integer("batches") ?? 0
        let rows = [
            Row(
                label: "(a) create \(grouped(sizes.marks)) marks on A", seconds: cv(a, "create_s"), operations: opsA,
                yrsSeconds: yrs(yrsA, "create_s")),
            Row(
                label: "(a) B takes in the \(grouped(batchesA)) batches", seconds: cv(a, "transfer_s"), operations: opsA,
                yrsSeconds: yrs(yrsA, "transfer_s")),
            Row(
                label: "(a) total", seconds: cvSum(a, ["create_s", "transfer_s"]), operations: opsA, peakKiB: peak(a),
                yrsSeconds: yrs(yrsA, "total_s"), yrsPeakKiB: yrsPeak(yrsA)),
            Row(
                label: "(b) 2 x \(grouped(sizes.editsPerReplica)) concurrent edits", seconds: cv(b, "edit_s"), operations: opsB,
                yrsSeconds: yrs(yrsB, "edit_s")),
            Row(label: "(b) sync and merge", seconds: cv(b, "sync_s"), operations: opsB, yrsSeconds: yrs(yrsB, "sync_s")),
            Row(
                label: "(b) total", seconds: cvSum(b, ["edit_s", "sync_s"]), operations: opsB, peakKiB: peak(b),
                yrsSeconds: yrs(yrsB, "total_s"), yrsPeakKiB: yrsPeak(yrsB)),
            Row(
                label: "(c) reopen \(grouped(opsC ?? 0)) ops from SQLite", seconds: cvSum(c, ["open_s", "load_s"]),
                operations: opsC, peakKiB: peak(c)),
        ]
        printRows(rows)

        let yrsRan = !yrsA.isEmpty || !yrsB.isEmpty
        print()
        print("Yrs/cvpeer = Yrs time over cvpeer time: above 1.00x, cvpeer is faster.")
        print(
            "What Yrs did NOT do that cvpeer did: no signatures (cvpeer signs every batch with Ed25519 when sealing and"
                + " verifies it when opening), no encryption (cvpeer encrypts and decrypts every batch with"
                + " XChaCha20-Poly1305), no validation of edits against limits and ownership rules.")
        print(
            "Yrs's 'create' and 'concurrent edits' rows include CPython's per-call overhead (one pycrdt call per edit);"
                + " its 'takes in' (encode the state as an update, apply it to an empty doc) and 'sync' (state vectors, diff"
                + " updates both ways, apply) rows are pure Rust work, one call each. cvpeer encodes while sealing, so its"
                + " encoding is in its 'create' and 'edits' rows.")
        print(
            "(a) A drafts, seals (encode, sign, encrypt) and applies \(grouped(opsA ?? 0)) ops (\(grouped(sizes.marks)) pin"
                + " marks on one image) in batches of \(ReplicationWorkloads.batchSize); B opens (decrypt, verify), decodes and"
                + " applies the sealed batches through Replica.receive(sealedBatches:contentKey:) (opened ahead on the other cores, merged in order). Yrs appends {x, y, colour, author}"
                + " records to a Y.Array in transactions of \(ReplicationWorkloads.batchSize).")
        if let open = cv(a, "step_open_s"), let decode = cv(a, "step_decode_s"), let apply = cv(a, "step_apply_s"),
            let encode = cv(a, "step_encode_s"), let seal = cv(a, "step_seal_s")
        {
            print(
                "    step by step, each alone over the same \(grouped(batchesA)) batches:"
                    + " BatchCodec.encode \(milliseconds(encode)), BatchSealer.seal \(milliseconds(seal)),"
                    + " BatchSealer.open \(milliseconds(open)), BatchCodec.decode \(milliseconds(decode)),"
                    + " Document.apply \(milliseconds(apply)) (A's BatchDraft.seal encodes its already validated edits and seals,"
                    + " then A applies; B opens, decodes and applies)")
        }
        if let before = a.first?.integer("rss_before_kib"), let created = a.first?.integer("rss_created_kib"),
            let transferred = a.first?.integer("rss_transferred_kib"), before > 0
        {
            print(
                "    resident memory: \(mebibytes(before)) MiB before, \(mebibytes(created)) MiB once A holds its replica and"
                    + " sealed batches (+\(mebibytes(created - before))), \(mebibytes(transferred)) MiB once B holds its replica"
                    + " too (+\(mebibytes(transferred - created))); the peak holds both replicas.")
        }
        print(
            "    wire: cvpeer's sealed batches \(bytes(a.first?.integer("wire_bytes"))), Yrs's update"
                + " \(bytes(yrsA.first?["update_bytes"]?.double.map { Int($0) })).")
        print(
            "(b) after an untimed shared set-up (\(ReplicationWorkloads.sharedItems) items, 2 profiles), each replica makes its"
                + " edits unaware of the other: 45% marks, 25% edits of the same items' fields, 20% viewports, 10% chat. cvpeer"
                + " syncs through SyncState.generateMessage, SyncMessageCodec encode/decode and Replica.receive"
                + " (\(b.first?["messages"] ?? "?") messages, \(bytes(b.first?.integer("sync_bytes")))); Yrs makes the same edits"
                + " in transactions of \(ReplicationWorkloads.batchSize), marks in a Y.Map by mark id (as cvpeer keeps them),"
                + " fields in a Y.Map per item, viewports in a Y.Map, chat in a Y.Array (yrs_reference.py says why), and"
                + " sends \(bytes(yrsB.first?["sync_bytes"]?.double.map { Int($0) })) of diff updates.")
        if let open = cv(b, "step_open_s"), let decode = cv(b, "step_decode_s"), let apply = cv(b, "step_apply_s") {
            print(
                "    the sync's receiving side step by step, each alone: BatchSealer.open \(milliseconds(open)),"
                    + " BatchCodec.decode \(milliseconds(decode)),"
                    + " Document.apply into the concurrent document \(milliseconds(apply))")
        }
        print(
            "(c) Store(path:) + loadReplica(room:) on a \(bytes(written.integer("file_bytes"))) SQLite file of"
                + " \(written["batches"] ?? "?") batches in (b)'s mix, written beforehand (warm page cache); every batch read,"
                + " decrypted, verified, decoded and merged again. Yrs is not measured here.")
        if let crypto = cv(c, "crypto_s"), let sql = cv(c, "sql_s"), let decode = cv(c, "decode_s"), let merge = cv(c, "merge_s"),
            let open = cv(c, "open_s")
        {
            print(
                "    step by step: Store(path:) \(milliseconds(open)), SELECT \(milliseconds(sql)), BatchSealer.open"
                    + " \(milliseconds(crypto)), BatchCodec.decode \(milliseconds(decode)),"
                    + " Document(batches:) \(milliseconds(merge))")
        }
        print(
            "Memory before the timed work (pre-generated edits included, and in the peaks): cvpeer-bench"
                + " \(mebibytes(a.first?.integer("baseline_kib"))) MiB, python3 with pycrdt"
                + " \(mebibytes(yrsA.first?["baseline_kib"]?.double.map { Int($0) })) MiB in (a). Convergence checks (untimed):"
                + " both state hashes take \(optionalMilliseconds(cv(a, "hash_s"))) in (a),"
                + " \(optionalMilliseconds(cv(b, "hash_s"))) in (b).")
        print()
        let ratioA = ratio(yrs(yrsA, "total_s"), cvSum(a, ["create_s", "transfer_s"]))
        let ratioB = ratio(yrs(yrsB, "total_s"), cvSum(b, ["edit_s", "sync_s"]))
        let ratioTransferA = ratio(yrs(yrsA, "transfer_s"), cv(a, "transfer_s"))
        let ratioSyncB = ratio(yrs(yrsB, "sync_s"), cv(b, "sync_s"))
        if yrsRan {
            print(aim("(a) twice as fast as Yrs, total", ratioA.map { $0 >= 2 }, ratioA.map { fixed($0, decimals: 2) + "x" }))
            print(
                aim(
                    "(a) twice as fast as Yrs, Rust-only part (B takes in)", ratioTransferA.map { $0 >= 2 },
                    ratioTransferA.map { fixed($0, decimals: 2) + "x" }))
            print(aim("(b) twice as fast as Yrs, total", ratioB.map { $0 >= 2 }, ratioB.map { fixed($0, decimals: 2) + "x" }))
            print(
                aim(
                    "(b) twice as fast as Yrs, Rust-only part (sync)", ratioSyncB.map { $0 >= 2 },
                    ratioSyncB.map { fixed($0, decimals: 2) + "x" }))
        } else if case let .unavailable(reason) = reference {
            print("aims against Yrs: not judged (Yrs skipped: \(reason))")
        }
        let peakA = peak(a)
        print(aim("(a) peak memory under 100 MiB", peakA.map { $0 < 100 * 1024 }, peakA.map { mebibytes($0) + " MiB" }))
        let timeC = cvSum(c, ["open_s", "load_s"])
        print(aim("(c) reopen under one second", timeC.map { $0 < 1 }, timeC.map(milliseconds)))
    }

    static func printRows(_ rows: [Row]) {
        let headers = ["workload", "cvpeer", "ops/s", "peak MiB", "Yrs", "Yrs peak MiB", "Yrs/cvpeer"]
        let cells = rows.map { row -> [String] in
            var rate = "—"
            if let operations = row.operations, let seconds = row.seconds, seconds > 0 {
                rate = grouped(Int((Double(operations) / seconds).rounded()))
            }
            let peak: String = row.peakKiB.map { mebibytes($0) } ?? "—"
            let yrsPeak: String = row.yrsPeakKiB.map { mebibytes($0) } ?? "—"
            let speedup: String = ratio(row.yrsSeconds, row.seconds).map { fixed($0, decimals: 2) + "x" } ?? "—"
            return [
                row.label, optionalMilliseconds(row.seconds), rate, peak, optionalMilliseconds(row.yrsSeconds), yrsPeak, speedup,
            ]
        }
        let widths = headers.indices.map { column in
            ([headers[column]] + cells.map { $0[column] }).map(\.count).max() ?? 0
        }
        func line(_ values: [String]) -> String {
            values.indices.map { column in
                column == 0 ? values[column].padding(to: widths[column]) : values[column].leftPadding(to: widths[column])
            }.joined(separator: "  ")
        }
        print(line(headers))
        print(String(repeating: "-", count: widths.reduce(0, +) + 2 * (widths.count - 1)))
        for row in cells { print(line(row)) }
    }

    static func aim(_ what: String, _ met: Bool?, _ value: String?) -> String {
        let verdict = met.map { $0 ? "met" : "NOT met" } ?? "not judged"
        return "aim \(what): \(verdict)\(value.map { " (\($0))" } ?? "")"
    }

    static func ratio(_ yrs: Double?, _ cvpeer: Double?) -> Double? {
        guard let yrs, let cvpeer, cvpeer > 0 else { return nil }
        return yrs / cvpeer
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }

    static func milliseconds(_ seconds: Double) -> String { fixed(seconds * 1000, decimals: 1) + " ms" }
    static func optionalMilliseconds(_ seconds: Double?) -> String { seconds.map(milliseconds) ?? "—" }
    static func mebibytes(_ kib: Int?) -> String { kib.map { fixed(Double($0) / 1024, decimals: 1) } ?? "?" }

    static func bytes(_ count: Int?) -> String {
        guard let count else { return "?" }
        return count >= 1 << 20 ? fixed(Double(count) / Double(1 << 20), decimals: 2) + " MiB" : grouped(count) + " B"
    }
}

/// Benchmarks/yrs_reference.py on python3 with pycrdt, or why it cannot run.
enum YrsReference {
    case available(script: String, version: String)
    case unavailable(String)

    static let scriptPath = "Benchmarks/yrs_reference.py"

    /// A reference run that produced no usable numbers.
    struct Problem: Error {
        let message: String
    }

    /// Finds the script (from the working directory, or above the executable's build folder)
    /// and asks it whether pycrdt imports.
    static func locate() -> YrsReference {
        var candidates = [scriptPath]
        if var folder = Subprocess.executableFolder {
            for _ in 0..<6 {
                candidates.append("\(folder)/\(scriptPath)")
                guard let slash = folder.lastIndex(of: "/"), slash != folder.startIndex else { break }
                folder = String(folder[..<slash])
            }
        }
        guard let script = candidates.first(where: Subprocess.isReadable) else {
            return .unavailable("\(scriptPath) not found (run from the package folder)")
        }
        guard let finished = Subprocess.run("python3", [script, "--probe"], searchPath: true) else {
            return .unavailable("python3 is not installed")
        }
        guard finished.succeeded, let json = JSONValue.parse(finished.output) else {
            return .unavailable("python3 \(script) --probe failed (\(finished.ending))")
        }
        if let skipped = json["skipped"]?.string { return .unavailable(skipped) }
        return .available(script: script, version: json["pycrdt"]?.string ?? "?")
    }

    /// Runs one workload in a fresh python3 process.
    static func run(script: String, workload: String, quick: Bool) -> Result<JSONValue, Problem> {
        let arguments = [script, "--workload", workload] + (quick ? ["--quick"] : [])
        guard let finished = Subprocess.run("python3", arguments, searchPath: true) else {
            return .failure(Problem(message: "python3 could not be started"))
        }
        guard finished.succeeded else { return .failure(Problem(message: "the Yrs reference failed (\(finished.ending))")) }
        guard let json = JSONValue.parse(finished.output) else {
            return .failure(Problem(message: "the Yrs reference printed no JSON"))
        }
        return .success(json)
    }
}
