import Foundation

/// The viewer's files and the demo's samples, compiled into the binary.
///
/// The EmbedNodeFiles plugin turns the target's `Viewer` and `Samples` folders into a generated
/// Swift file on every build, so a `cvpeer` copied alone (the one file a customer downloads) has
/// everything it serves: no resources folder beside it, no `Bundle.module`.
enum NodeResources {
    /// The bytes of `Viewer/index.html`, `Samples/armchair.jpg` and the like, or nil if no such file was embedded.
    static func contents(_ relativePath: String) -> Data? {
        EmbeddedFiles.base64[relativePath].flatMap { Data(base64Encoded: $0) }
    }
}
