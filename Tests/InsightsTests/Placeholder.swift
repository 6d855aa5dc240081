import Testing
@Test func insightsPlaceholder() {}
