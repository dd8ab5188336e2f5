package tlog

// Parts returns the part entries of a record, for tests of the layout.
var Parts = parts
