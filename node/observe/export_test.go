package observe

// CleanClient exposes cleanClient to the external tests.
var CleanClient = cleanClient

// ClosedSwarmConfig exposes closedSwarmConfig to the external tests, whose
// seeders join the same closed swarm.
var ClosedSwarmConfig = closedSwarmConfig
