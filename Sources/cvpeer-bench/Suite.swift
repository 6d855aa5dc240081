/// One benchmark suite, run as `cvpeer-bench <name>`; a new suite needs only an entry in `all`.
struct Suite: Sendable {
    /// The subcommand that selects it.
    let name: String
    /// One line for `--help`.
    let summary: String
    /// Runs the suite and prints its report; false if it could not produce trustworthy numbers.
    let run: @Sendable (BenchOptions) async -> Bool

    /// Every suite, in the order `all` runs them.
    static let all: [Suite] = [
        CryptoSuite.suite,
        ReplicationSuite.suite,
        TransportSuite.suite,
        NodeSuite.suite,
        ShareSuite.suite,
        EpochSuite.suite,
        BlobReadSuite.suite,
    ]
}

/// Settings shared by all suites.
struct BenchOptions: Sendable {
    /// Fewer, shorter rounds: a smoke run for CI, not numbers to quote.
    var quick = false
    /// Hidden: set when a suite re-runs this program as a child process to measure one workload
    /// alone (`replication` does, so that each workload's peak memory is its own).
    var workload: String?
    /// Hidden: the scratch folder such a child works in.
    var store: String?
    /// Hidden: a child skips its untimed convergence check, so that a profiler
    /// (`perf record -g cvpeer-bench replication --workload a --no-check`) sees only the timed work.
    var check = true

    /// Measured rounds per side; odd, so the median is one real round.
    var rounds: Int { quick ? 3 : 7 }
    /// Target length of one round: long enough that timer resolution and one-off stalls wash out.
    var roundSeconds: Double { quick ? 0.02 : 0.15 }
}

/// What the command line asks for.
enum Invocation {
    case help
    case run([Suite], BenchOptions)
    case failure(String)

    /// Accepts flags anywhere, and exactly one suite name (or `all`).
    static func parse(_ arguments: [String]) -> Invocation {
        var options = BenchOptions()
        var names: [String] = []
        var remaining = arguments[...]
        while let argument = remaining.popFirst() {
            switch argument {
            case "-h", "--help", "help": return .help
            case "--quick": options.quick = true
            case "--no-check": options.check = false
            case "--workload", "--store":
                guard let value = remaining.popFirst() else { return .failure("\(argument) needs a value") }
                if argument == "--workload" { options.workload = value } else { options.store = value }
            case _ where argument.hasPrefix("-"): return .failure("unknown option '\(argument)'")
            default: names.append(argument)
            }
        }
        guard let name = names.first else { return .failure("no benchmark given") }
        guard names.count == 1 else { return .failure("one benchmark at a time, or 'all'") }
        if name == "all" { return .run(Suite.all, options) }
        guard let suite = Suite.all.first(where: { $0.name == name }) else {
            return .failure("unknown benchmark '\(name)'")
        }
        return .run([suite], options)
    }

    /// The `--help` text, built from `Suite.all` so it cannot go stale.
    static var usage: String {
        let width = Suite.all.map(\.name.count).max() ?? 0
        let lines = Suite.all.map { "  \($0.name.padding(to: width))  \($0.summary)" }
        return """
            usage: cvpeer-bench [--quick] <benchmark>
            Build with -c release; debug numbers mean nothing.

            benchmarks:
            \(lines.joined(separator: "\n"))
              \("all".padding(to: width))  every benchmark above, in turn

            options:
              --quick  fewer, shorter rounds (a CI smoke run of a few seconds, not numbers to quote)
              --help   this text
            """
    }
}
