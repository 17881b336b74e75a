// Package processor is the Kafka runtime of the interruptions processor: it
// consumes VCC channel events from the input topic in a consumer group,
// runs the matcher (package match) on one state store per input partition,
// and produces interruption records, dead letters and changelog records,
// committed with the input offsets as the configured Guarantee says.
//
// One record's path, each step in one package:
//
//	kgo.Record --codec.Decode--> match.Event --match.Engine--> match.Interruption --codec.Encoder--> kgo.Record
//	                 |                               |
//	      codec.DecodeError → dead letter     state.Store (per partition) → changelog (state/changelog.go)
//
// Inside this package, by role (as Kafka Streams splits StreamThread,
// TaskManager, StreamTask, RecordCollector and StoreChangelogReader):
// runner.go is the loop, guarantee.go the two ways a unit of work commits,
// tasks.go the task manager, task.go one partition's task and its handler
// chain, collector.go the producer side, restore.go the changelog reader,
// hooks.go the observers (metrics), config.go the settings.
package processor
