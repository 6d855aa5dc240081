// Placeholder until the report engine lands.
enum InsightsPlaceholder {}
