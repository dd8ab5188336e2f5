package nft

// Classify exposes classify to the tests.
var Classify = classify

// SetMaxReplace sets the largest desired state Reconcile installs in one
// transaction, and returns a function that restores it.
func SetMaxReplace(n int) (restore func()) {
	old := maxReplace
	maxReplace = n
	return func() { maxReplace = old }
}
