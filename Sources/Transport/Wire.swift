/// Sizes and constants of the datagram format, named so that no bare number stands in the code.
///
/// The full format is written down in docs/PROTOCOL.md once the transport exists.
public enum Wire {
    /// The largest UDP payload cvpeer sends: fits the IPv6 minimum MTU (1280) less headers, so no
    /// datagram is ever fragmented on any path.
    public static let maxDatagramSize = 1200
    /// The protocol identifier hashed into every handshake: an incompatible change gets a new one.
    public static let protocolIdentifier = Array("cvpeer/1".utf8)
    /// The Noise protocol every link runs.
    public static let noiseProtocolName = "Noise_XXpsk3_25519_ChaChaPoly_BLAKE2b"
}
