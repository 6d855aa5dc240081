import Foundation
import PackagePlugin

/// Embeds the Node target's `Viewer` and `Samples` folders in the binary, so a `cvpeer` copied
/// alone still serves its viewer and runs its demo.
///
/// A prebuild command (run on every build, unlike a build command whose inputs are fixed when the
/// build is planned) walks the whole folders, so a file added to the viewer ships without a
/// manifest change. The generated file holds each file as a base64 string literal: string literals
/// compile in a moment, where a large `[UInt8]` literal takes the type checker minutes.
@main
struct EmbedNodeFiles: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        let output = context.pluginWorkDirectoryURL.appendingPathComponent("Generated")
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        let script = context.package.directoryURL.appendingPathComponent("Plugins/EmbedNodeFiles/embed-files.sh")
        let folders = ["Viewer", "Samples"].map { target.directoryURL.appendingPathComponent($0).path }
        return [
            .prebuildCommand(
                displayName: "Embedding \(target.name)'s viewer and samples",
                executable: URL(fileURLWithPath: "/bin/sh"),
                arguments: [script.path, output.appendingPathComponent("EmbeddedFiles.swift").path] + folders,
                outputFilesDirectory: output)
        ]
    }
}
