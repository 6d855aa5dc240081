import Foundation
import PackagePlugin

/// Bakes the commit the binary is built from into the `cvpeer` target, for `cvpeer --version`.
///
/// A prebuild command runs on every build, so a new commit reaches the next build; the generated
/// file is rewritten only when the commit changes.
@main
struct BuildCommit: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        let output = context.pluginWorkDirectoryURL.appendingPathComponent("Generated")
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        let script = context.package.directoryURL.appendingPathComponent("Plugins/BuildCommit/build-commit.sh")
        return [
            .prebuildCommand(
                displayName: "Recording the commit \(target.name) is built from",
                executable: URL(fileURLWithPath: "/bin/sh"),
                arguments: [script.path, context.package.directoryURL.path, output.appendingPathComponent("BuildCommit.swift").path],
                outputFilesDirectory: output)
        ]
    }
}
