package observe

// CleanClient exposes cleanClient to the external tests.
var CleanClient = cleanClient
