package gpustats

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// The history stream carries the reports of reporters that never publish. SOLLOL's gpu_reporter.py appends each
// report to it (XADD MAXLEN 1000, every member flattened to a string) and sets its key, but publishes nothing on
// the channel: a blocking read of the stream sees its reports within milliseconds instead of at the next resync.
//
// This project's reporter appends to the stream too, for SOLLOL's tools, and also publishes on the channel; the
// watcher skips its entries (they carry "schema") and takes its reports from the channel. One mechanism for both
// would be simpler, but the channel stays, for these reasons:
//   - A signed report is checked over its exact bytes. The stream holds it flattened into fields in no order,
//     so the bytes cannot be rebuilt; carrying the payload once more as a field would double the stream's memory.
//   - A clean shutdown publishes a tombstone; a tombstone in the stream would read as a report to SOLLOL's tools.
//   - In a Cluster a stream is one key on one shard: every reporter's XADD and every gateway's blocking XREAD
//     would land there, while the channel's subscribers are spread over every node.
//   - Resuming from the last id after a reconnect, which the channel cannot, gains little here: every session
//     starts with a resync of every key.
// The watcher resumes the stream from the last entry it read all the same: an entry whose key was never set
// (a reporter that stopped between its XADD and its SETEX) is not lost, and entries older than the report held
// are skipped without counting as rejected.

// streamBlock bounds one blocking XREAD: how long the read outlives the session that started it.
const streamBlock = time.Second

// streamCount is how many entries one XREAD returns at most.
const streamCount = 100

// streamStart returns the id to read the stream from: where the last session left off, else the stream's current
// end, taken before the resync so that no entry falls between the two. It returns "" when Redis refuses the
// stream (see refused), and an error only when the connection fails.
func (w *Watcher) streamStart(ctx context.Context) (string, error) {
	if w.streamID != "" {
		return w.streamID, nil
	}
	last, err := w.client.XRevRangeN(ctx, w.opts.Names.Stream(), "+", "-", 1).Result()
	switch {
	case err != nil && refused(err):
		w.streamRefused(err)
		return "", nil
	case err != nil:
		return "", err
	case len(last) == 0:
		w.streamID = "0-0" // every entry to come
	default:
		w.streamID = last[0].ID
	}
	return w.streamID, nil
}

// streamRefused says that this session reads no stream: a warning the first time, at debug level after that.
func (w *Watcher) streamRefused(err error) {
	log := w.log.Debug
	if !w.streamWarned {
		w.streamWarned, log = true, w.log.Warn
	}
	log("cannot read the report stream; reports that are not published (SOLLOL's reporter) show at the next resync",
		zap.String("stream", w.opts.Names.Stream()), zap.Error(err))
}

// readStream passes the entries appended after id to entries, in batches, until ctx ends or a read fails, then
// the error to failed.
func (w *Watcher) readStream(ctx context.Context, id string, entries chan<- []redis.XMessage, failed chan<- error) {
	for ctx.Err() == nil {
		res, err := w.client.XRead(ctx, &redis.XReadArgs{Streams: []string{w.opts.Names.Stream(), id},
			Count: streamCount, Block: streamBlock}).Result()
		if err == redis.Nil {
			continue // nothing new within streamBlock
		}
		if err != nil {
			if ctx.Err() == nil {
				failed <- err // buffered, read at most once
			}
			return
		}
		for _, s := range res {
			if len(s.Messages) == 0 {
				continue
			}
			id = s.Messages[len(s.Messages)-1].ID
			select {
			case entries <- s.Messages:
			case <-ctx.Done():
				return
			}
		}
	}
}

// applyEntries applies the reports of stream entries that no channel message carried, and notes the last id.
func (w *Watcher) applyEntries(ctx context.Context, batch []redis.XMessage) error {
	for _, m := range batch {
		w.streamID = m.ID
		if _, ours := m.Values["schema"]; ours {
			continue // published on the channel too
		}
		now := w.clock.Now()
		data, err := unflatten(m.Values)
		switch {
		case err != nil:
			w.rejectedReport(w.opts.Names.Stream(), err, now)
		case w.opts.VerifyChannel:
			if err := w.verifyEntry(ctx, data, now); err != nil {
				return err
			}
		default:
			w.apply(w.opts.Names.Stream(), data, now)
		}
	}
	return nil
}

// recheckDelay is how long after a stream entry the watcher reads its node's key again when the key did not yet
// hold the entry's report (WatcherOptions.VerifyChannel).
const recheckDelay = 50 * time.Millisecond

// verifyEntry takes a stream entry as a notice, as applyVerified takes a message: any reporter allowed to XADD
// could have written it, so what the node's key holds is applied instead. SOLLOL's reporter appends to the stream
// just before it sets the key: where the key does not hold the entry's report yet, the key is read once more
// after recheckDelay. It returns only Redis errors.
func (w *Watcher) verifyEntry(ctx context.Context, data []byte, now time.Time) error {
	r, err := w.opts.Decoder.Decode(data, now)
	if err != nil {
		w.rejectedReport(w.opts.Names.Stream(), err, now)
		return nil
	}
	if err := w.applyKey(ctx, r.NodeID, now); err != nil {
		return err
	}
	if n := w.nodes[r.NodeID]; n == nil || n.Report.Timestamp < r.Timestamp {
		w.rechecks[r.NodeID] = true
	}
	return nil
}

// recheck reads again the keys that verifyEntry found behind their stream entries.
func (w *Watcher) recheck(ctx context.Context) error {
	now := w.clock.Now()
	for id := range w.rechecks {
		if err := w.applyKey(ctx, id, now); err != nil {
			return err
		}
		delete(w.rechecks, id)
	}
	return nil
}

// applyKey applies what node id's key holds, if anything.
func (w *Watcher) applyKey(ctx context.Context, id string, now time.Time) error {
	key := w.opts.Names.Node(id)
	stored, err := w.client.Get(ctx, key).Bytes()
	switch {
	case err == redis.Nil:
		return nil
	case err != nil:
		return fmt.Errorf("reading %s: %w", key, err)
	}
	w.apply(key, stored, now)
	return nil
}

// The JSON kinds of a report's members, which flattening turned into strings; unflatten drops other members.
const (
	flatString = iota
	flatNumber
	flatBool
	flatJSON // lists and objects, written as JSON
)

var flatMembers = map[string]int{
	"vendor": flatString, "node_id": flatString, "note": flatString, "hostname": flatString,
	"timestamp": flatNumber, "interval_s": flatNumber,
	"draining": flatBool,
	"gpus":     flatJSON, "addresses": flatJSON, "ollama": flatJSON,
}

// unflatten turns the fields of a stream entry back into the JSON report they were flattened from, as SOLLOL's
// reporter flattens: lists and dicts as JSON, everything else as Python's str() prints it (True, None, 1.5). The
// result goes through the same Decoder as every report.
func unflatten(values map[string]any) ([]byte, error) {
	size := 2
	for k, v := range values {
		s, _ := v.(string)
		size += len(k) + len(s) + 4
	}
	if size > MaxReportBytes {
		return nil, reject(RejectTooLarge, "stream entry of %d bytes, limit %d", size, MaxReportBytes)
	}
	out := make([]byte, 0, size+64)
	out = append(out, '{')
	for _, k := range slices.Sorted(maps.Keys(values)) {
		kind, known := flatMembers[k]
		if !known {
			continue
		}
		s, ok := values[k].(string)
		if !ok {
			return nil, reject(RejectMalformed, "stream field %q is not a string", k)
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(out, '"')
		out = append(out, k...)
		out = append(out, `":`...)
		switch {
		case s == "None":
			out = append(out, "null"...)
		case kind == flatString:
			q, _ := json.Marshal(s)
			out = append(out, q...)
		case kind == flatBool && (s == "True" || s == "true"):
			out = append(out, "true"...)
		case kind == flatBool && (s == "False" || s == "false"):
			out = append(out, "false"...)
		case kind == flatNumber && isJSONNumber(s), kind == flatJSON:
			out = append(out, s...) // a bad list or object fails the decoder
		default:
			return nil, reject(RejectMalformed, "stream field %q: %q is not a %s", k, s,
				[...]string{"string", "number", "boolean", "JSON value"}[kind])
		}
	}
	return append(out, '}'), nil
}

// isJSONNumber reports whether s is one JSON number (Python prints inf and nan, which JSON has not).
func isJSONNumber(s string) bool {
	if s == "" || (s[0] != '-' && (s[0] < '0' || s[0] > '9')) {
		return false
	}
	var n json.Number
	return json.Unmarshal([]byte(s), &n) == nil
}
