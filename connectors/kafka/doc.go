// Package kafka publishes change events to Kafka exactly once and reads
// topics back.
//
// A Publisher owns one transactional producer. Events, new schema versions
// and the reader's checkpoint travel in the same Kafka transaction, so after
// a crash a read_committed consumer sees either all of a transaction or none
// of it, and the checkpoint a restarted reader loads is exactly the position
// the committed events reach.
package kafka
