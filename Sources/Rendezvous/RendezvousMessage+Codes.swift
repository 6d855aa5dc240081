/// The short-code mailbox messages (docs/PROTOCOL.md, "Short-code mailbox").
///
/// A host opens a mailbox with its PAKE message and gets a nameplate; a joiner looks the
/// nameplate up, gets the host's PAKE message, and knocks once with its own PAKE message and
/// confirmation tag; the rendezvous forwards the first knock to the host, whose sealed answer (or
/// burn) it forwards back. PAKE messages, tags and payloads are opaque bytes here.
///
/// Every node → rendezvous message carries the node's client nonce and cookie, as register does;
/// every rendezvous → node message carries the nonce of the node it goes to, so a node can tell
/// it from an off-path forgery.
extension RendezvousMessage {
    /// Host → rendezvous: open a mailbox, or refresh the one this nonce holds.
    package struct CodeOpen: Hashable, Sendable {
        /// The host's nonce for the whole exchange; the cookie binds it.
        package var clientNonce: UInt64
        /// The cookie from the last challenge, or `.none`.
        public var cookie: RendezvousCookie
        /// The lifetime asked, in seconds; 0 asks for the rendezvous's default, more is capped.
        package var requestedLifetimeSeconds: UInt16
        /// nil to open; the nameplate held to refresh it (a keepalive that never allocates).
        public var nameplate: CodeNameplate?
        /// The host's PAKE message, 1 … `RendezvousWire.maxPakeMessageSize` bytes.
        public var pakeMessage: [UInt8]

        /// Creates a codeOpen; a PAKE message of the wrong size is a programmer error.
        public init(
            clientNonce: UInt64,
            cookie: RendezvousCookie = .none,
            requestedLifetimeSeconds: UInt16 = 0,
            nameplate: CodeNameplate? = nil,
            pakeMessage: [UInt8]
        ) {
            precondition(isPakeMessageSize(pakeMessage.count), "PAKE message of 1…96 bytes")
            self.clientNonce = clientNonce
            self.cookie = cookie
            self.requestedLifetimeSeconds = requestedLifetimeSeconds
            self.nameplate = nameplate
            self.pakeMessage = pakeMessage
        }
    }

    /// Rendezvous → host: the mailbox is open.
    package struct CodeOpened: Hashable, Sendable {
        /// The host's nonce.
        package var clientNonce: UInt64
        /// The nameplate allocated.
        public var nameplate: CodeNameplate
        /// Seconds the mailbox has left (all of it on the first reply).
        package var lifetimeSeconds: UInt16

        /// Creates a codeOpened.
        public init(clientNonce: UInt64, nameplate: CodeNameplate, lifetimeSeconds: UInt16) {
            self.clientNonce = clientNonce
            self.nameplate = nameplate
            self.lifetimeSeconds = lifetimeSeconds
        }
    }

    /// Joiner → rendezvous: the host's PAKE message under this nameplate, please.
    package struct CodeLookup: Hashable, Sendable {
        /// The joiner's nonce for the whole exchange.
        package var clientNonce: UInt64
        /// The cookie from the last challenge, or `.none`.
        public var cookie: RendezvousCookie
        /// The nameplate typed.
        public var nameplate: CodeNameplate

        /// Creates a codeLookup (padded on the wire to `RendezvousWire.codeLookupSize`).
        public init(clientNonce: UInt64, cookie: RendezvousCookie = .none, nameplate: CodeNameplate) {
            self.clientNonce = clientNonce
            self.cookie = cookie
            self.nameplate = nameplate
        }
    }

    /// Rendezvous → joiner: the host's PAKE message.
    package struct CodeOffer: Hashable, Sendable {
        /// The joiner's nonce.
        package var clientNonce: UInt64
        /// The nameplate looked up.
        public var nameplate: CodeNameplate
        /// The host's PAKE message.
        public var pakeMessage: [UInt8]

        /// Creates a codeOffer; a PAKE message of the wrong size is a programmer error.
        public init(clientNonce: UInt64, nameplate: CodeNameplate, pakeMessage: [UInt8]) {
            precondition(isPakeMessageSize(pakeMessage.count), "PAKE message of 1…96 bytes")
            self.clientNonce = clientNonce
            self.nameplate = nameplate
            self.pakeMessage = pakeMessage
        }
    }

    /// Joiner → rendezvous: the one guess. Only the first knock on a nameplate is forwarded.
    package struct CodeKnock: Hashable, Sendable {
        /// The joiner's nonce (the one of its lookup).
        package var clientNonce: UInt64
        /// A valid cookie for the joiner's address and nonce.
        public var cookie: RendezvousCookie
        /// The nameplate knocked on.
        public var nameplate: CodeNameplate
        /// The joiner's PAKE message, 1 … `RendezvousWire.maxPakeMessageSize` bytes.
        public var pakeMessage: [UInt8]
        /// The joiner's key confirmation tag, `RendezvousWire.codeTagSize` bytes.
        public var tag: [UInt8]

        /// Creates a codeKnock (padded on the wire to `RendezvousWire.codeKnockSize`); wrong sizes
        /// are a programmer error.
        public init(
            clientNonce: UInt64,
            cookie: RendezvousCookie,
            nameplate: CodeNameplate,
            pakeMessage: [UInt8],
            tag: [UInt8]
        ) {
            precondition(isPakeMessageSize(pakeMessage.count), "PAKE message of 1…96 bytes")
            precondition(tag.count == RendezvousWire.codeTagSize, "tag of codeTagSize bytes")
            self.clientNonce = clientNonce
            self.cookie = cookie
            self.nameplate = nameplate
            self.pakeMessage = pakeMessage
            self.tag = tag
        }
    }

    /// Rendezvous → host: a joiner knocked on its nameplate.
    package struct CodeKnocked: Hashable, Sendable {
        /// The host's nonce (of its codeOpen).
        package var clientNonce: UInt64
        /// The host's nameplate.
        public var nameplate: CodeNameplate
        /// The rendezvous's random id of this knock, named again in the answer or burn.
        package var knockID: UInt64
        /// The joiner's key confirmation tag.
        public var tag: [UInt8]
        /// The joiner's PAKE message.
        public var pakeMessage: [UInt8]

        /// Creates a codeKnocked; wrong sizes are a programmer error.
        public init(clientNonce: UInt64, nameplate: CodeNameplate, knockID: UInt64, tag: [UInt8], pakeMessage: [UInt8])
        {
            precondition(isPakeMessageSize(pakeMessage.count), "PAKE message of 1…96 bytes")
            precondition(tag.count == RendezvousWire.codeTagSize, "tag of codeTagSize bytes")
            self.clientNonce = clientNonce
            self.nameplate = nameplate
            self.knockID = knockID
            self.tag = tag
            self.pakeMessage = pakeMessage
        }
    }

    /// Host → rendezvous: the sealed answer for the knock (the host's confirmation and the invite).
    public struct CodeAnswer: Hashable, Sendable {
        /// The host's nonce (of its codeOpen).
        package var clientNonce: UInt64
        /// A valid cookie for the host's address and nonce.
        public var cookie: RendezvousCookie
        /// The host's nameplate.
        public var nameplate: CodeNameplate
        /// The knock answered.
        package var knockID: UInt64
        /// Opaque, 1 … `RendezvousWire.maxCodePayloadSize` bytes.
        public var payload: [UInt8]

        /// Creates a codeAnswer; a payload of the wrong size is a programmer error.
        public init(
            clientNonce: UInt64,
            cookie: RendezvousCookie,
            nameplate: CodeNameplate,
            knockID: UInt64,
            payload: [UInt8]
        ) {
            precondition(isCodePayloadSize(payload.count), "payload of 1…maxCodePayloadSize bytes")
            self.clientNonce = clientNonce
            self.cookie = cookie
            self.nameplate = nameplate
            self.knockID = knockID
            self.payload = payload
        }
    }

    /// Rendezvous → joiner: the host's sealed answer.
    package struct CodeAnswered: Hashable, Sendable {
        /// The joiner's nonce (of its knock).
        package var clientNonce: UInt64
        /// The nameplate knocked on.
        public var nameplate: CodeNameplate
        /// The host's payload, unchanged.
        public var payload: [UInt8]

        /// Creates a codeAnswered; a payload of the wrong size is a programmer error.
        public init(clientNonce: UInt64, nameplate: CodeNameplate, payload: [UInt8]) {
            precondition(isCodePayloadSize(payload.count), "payload of 1…maxCodePayloadSize bytes")
            self.clientNonce = clientNonce
            self.nameplate = nameplate
            self.payload = payload
        }
    }

    /// Host → rendezvous: the knock's tag was wrong; burn the nameplate and tell the joiner.
    package struct CodeBurn: Hashable, Sendable {
        /// The host's nonce (of its codeOpen).
        package var clientNonce: UInt64
        /// A valid cookie for the host's address and nonce.
        public var cookie: RendezvousCookie
        /// The host's nameplate.
        public var nameplate: CodeNameplate
        /// The knock refused.
        package var knockID: UInt64

        /// Creates a codeBurn.
        public init(clientNonce: UInt64, cookie: RendezvousCookie, nameplate: CodeNameplate, knockID: UInt64) {
            self.clientNonce = clientNonce
            self.cookie = cookie
            self.nameplate = nameplate
            self.knockID = knockID
        }
    }

    /// Host → rendezvous: close the mailbox now.
    package struct CodeClose: Hashable, Sendable {
        /// The host's nonce (of its codeOpen).
        package var clientNonce: UInt64
        /// A valid cookie for the host's address and nonce.
        public var cookie: RendezvousCookie
        /// The host's nameplate.
        public var nameplate: CodeNameplate

        /// Creates a codeClose.
        public init(clientNonce: UInt64, cookie: RendezvousCookie, nameplate: CodeNameplate) {
            self.clientNonce = clientNonce
            self.cookie = cookie
            self.nameplate = nameplate
        }
    }

    /// Rendezvous → host: the answer, burn or close was carried out.
    package struct CodeAck: Hashable, Sendable {
        /// The host's nonce.
        package var clientNonce: UInt64
        /// The host's nameplate.
        public var nameplate: CodeNameplate

        /// Creates a codeAck.
        public init(clientNonce: UInt64, nameplate: CodeNameplate) {
            self.clientNonce = clientNonce
            self.nameplate = nameplate
        }
    }

    /// Rendezvous → node: the request cannot be carried out.
    package struct CodeError: Hashable, Sendable {
        /// The nonce of the node it goes to.
        package var clientNonce: UInt64
        /// The nameplate concerned; nil (0 on the wire) when an open found none free.
        public var nameplate: CodeNameplate?
        /// Why.
        public var reason: RendezvousWire.CodeErrorReason

        /// Creates a codeError.
        public init(clientNonce: UInt64, nameplate: CodeNameplate?, reason: RendezvousWire.CodeErrorReason) {
            self.clientNonce = clientNonce
            self.nameplate = nameplate
            self.reason = reason
        }
    }
}

/// True for a PAKE message length the wire allows.
func isPakeMessageSize(_ count: Int) -> Bool {
    (RendezvousWire.minPakeMessageSize...RendezvousWire.maxPakeMessageSize).contains(count)
}

/// True for a sealed payload length the wire allows.
func isCodePayloadSize(_ count: Int) -> Bool {
    (1...RendezvousWire.maxCodePayloadSize).contains(count)
}
