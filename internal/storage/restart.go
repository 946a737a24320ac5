package storage

// TruncateFullyAndStartAt empties the log and restarts it at offset, which
// may lie beyond the current log end: a follower whose leader's log start
// has moved past it (retention, DeleteRecords) starts over there, as
// Kafka's truncateFullyAndStartAt does.
func (l *Log) TruncateFullyAndStartAt(offset int64) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	return l.truncateFully(offset)
}
