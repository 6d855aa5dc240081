/// The HTTP methods the local API's routes answer and its client sends.
public enum LocalAPIMethod: String, Sendable, CaseIterable {
    /// Reads; never changes anything, so the viewer may load it as a page.
    case get = "GET"
    /// Creates or acts.
    case post = "POST"
    /// Replaces.
    case put = "PUT"
    /// Deletes.
    case delete = "DELETE"
}
