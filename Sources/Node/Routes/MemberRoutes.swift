import LocalAPI
import Replication

extension NodeRoutes {
    /// Who is in the room: roles, epochs (removing members), short codes and admitting joiners.
    static func memberRoutes(engine: RoomEngine) -> [LocalAPIRoute] {
        [
            LocalAPIRoute(.post, "/api/grant") { request in
                await guarded {
                    let body = try request.decode(GrantRequest.self)
                    guard let role = Role.allCases.first(where: { $0.name == body.role }) else {
                        throw NodeError.badRequest("role must be agent, customer, guest or archive")
                    }
                    try await engine.grant(role, to: try await engine.resolveParticipant(body.participant))
                    return try .json(EmptyAnswer())
                }
            },
            LocalAPIRoute(.post, "/api/epoch") { request in
                await guarded {
                    let body = try request.decode(EpochRequest.self)
                    var removing: [ReplicaID] = []
                    for participant in body.remove ?? [] { removing.append(try await engine.resolveParticipant(participant)) }
                    let epoch = try await engine.startEpoch(removing: removing)
                    return try .json(EpochAnswer(epoch: Int(epoch), invite: try await engine.currentInvite().code))
                }
            },
            LocalAPIRoute(.post, "/api/code") { request in
                await guarded {
                    let body = try request.decode(CodeRequest.self)
                    let maximum = Int(ShortCodeExchange.defaultLifetime.components.seconds)
                    let seconds = body.seconds ?? maximum
                    guard (30...maximum).contains(seconds) else { throw NodeError.badRequest("a code lives 30 to \(maximum) seconds") }
                    let given = try await engine.giveCode(lifetime: .seconds(seconds))
                    return try .json(CodeAnswer(code: given.code, nameplate: given.record.nameplate, expires: given.record.expiresMillis))
                }
            },
            LocalAPIRoute(.post, "/api/admit") { request in
                await guarded {
                    let body = try request.decode(AdmitRequest.self)
                    try await engine.decide(try await engine.resolveParticipant(body.participant), admit: body.admit)
                    return try .json(EmptyAnswer())
                }
            },
        ]
    }
}
