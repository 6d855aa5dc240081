import Foundation

/// The files that ship beside the `cvpeer` binary: the viewer and the demo's samples.
///
/// SwiftPM puts them in `cvpeer_Node.resources` next to the executable. `Bundle.module` would
/// find them there too, but it stops the process when they are missing (a binary copied without
/// its folder); here a missing file is an error the caller reports, and the folder is also looked
/// for where an installation puts shared files.
enum NodeResources {
    /// The folder's name as SwiftPM makes it (package name, underscore, target name).
    static let folderName = "cvpeer_Node.resources"

    /// The first folder that exists: beside the executable (symlinks resolved), then the
    /// conventional shared-data places.
    static let folder: URL? = {
        var candidates: [URL] = []
        if let executable = Bundle.main.executableURL?.resolvingSymlinksInPath() {
            candidates.append(executable.deletingLastPathComponent().appendingPathComponent(folderName))
        }
        candidates.append(URL(fileURLWithPath: "/usr/local/share/cvpeer/" + folderName))
        candidates.append(URL(fileURLWithPath: "/usr/share/cvpeer/" + folderName))
        return candidates.first { FileManager.default.fileExists(atPath: $0.path) }
    }()

    /// The bytes of `Viewer/index.html`, `Samples/armchair.jpg` and the like, or nil if absent.
    static func contents(_ relativePath: String) -> Data? {
        guard let folder else { return nil }
        return FileManager.default.contents(atPath: folder.appendingPathComponent(relativePath).path)
    }

    /// What to tell a user whose installation lacks the folder.
    static var missingHint: String {
        "the viewer's files (\(folderName)) are not beside the cvpeer binary; copy that folder from the build folder next to it"
    }
}
