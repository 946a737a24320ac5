// The benchmark's hot loops written against librdkafka's C API, the way
// librdkafka's own rdkafka_performance drives it: one rd_kafka_produce call
// per record (payload copied, partitioner picks the partition) and a
// callback consumer over a queue. Going through the Go wrapper instead costs
// a cgo call and a Go allocation per record, which on a two-core machine
// uses the CPU the broker under test needs (see docs/benchmarks.md).

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "native.h"
#include "rdk.h"

static int64_t now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static rd_kafka_t *new_client(rd_kafka_type_t type, const char **names,
                              const char **values, int nconf, void *opaque,
                              phase *out) {
	char errstr[256];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	for (int i = 0; i < nconf; i++) {
		if (rd_kafka_conf_set(conf, names[i], values[i], errstr,
		                      sizeof(errstr)) != RD_KAFKA_CONF_OK) {
			snprintf(out->err, sizeof(out->err), "config %s=%s: %s",
			         names[i], values[i], errstr);
			rd_kafka_conf_destroy(conf);
			return NULL;
		}
	}
	rd_kafka_conf_set_opaque(conf, opaque);
	if (type == RD_KAFKA_PRODUCER) {
		extern void native_dr_cb(rd_kafka_t *, const rd_kafka_message_t *, void *);
		rd_kafka_conf_set_dr_msg_cb(conf, native_dr_cb);
	}
	rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));
	if (rk == NULL) {
		snprintf(out->err, sizeof(out->err), "rd_kafka_new: %s", errstr);
		rd_kafka_conf_destroy(conf);
	}
	return rk;
}

// open_topic returns a handle on topic once rk knows its leaders, so a
// phase's clock does not time librdkafka's metadata refresh timer; NULL
// with out->err set when either step fails.
static rd_kafka_topic_t *open_topic(rd_kafka_t *rk, const char *topic, phase *out) {
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
	if (rkt == NULL) {
		snprintf(out->err, sizeof(out->err), "topic %s: %s", topic,
		         rd_kafka_err2str(rd_kafka_last_error()));
		return NULL;
	}
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
	if (err) {
		snprintf(out->err, sizeof(out->err), "metadata of %s: %s", topic,
		         rd_kafka_err2str(err));
		rd_kafka_topic_destroy(rkt);
		return NULL;
	}
	rd_kafka_metadata_destroy(md);
	return rkt;
}

// The producer's delivery-report counters, reached through the opaque.
typedef struct {
	int64_t delivered, failed;
	rd_kafka_resp_err_t first_err;
} dr_state;

void native_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
	(void)rk;
	dr_state *st = opaque;
	if (m->err) {
		if (st->failed++ == 0)
			st->first_err = m->err;
	} else {
		st->delivered++;
	}
}

void native_produce(const char **names, const char **values, int nconf,
                    const char *topic, int64_t count, int size,
                    int64_t timeout_ms, phase *out) {
	memset(out, 0, sizeof(*out));
	dr_state st = {0};
	rd_kafka_t *rk = new_client(RD_KAFKA_PRODUCER, names, values, nconf, &st, out);
	if (rk == NULL)
		return;
	rd_kafka_topic_t *rkt = open_topic(rk, topic, out);
	if (rkt == NULL) {
		rd_kafka_destroy(rk);
		return;
	}
	char *value = malloc(size > 0 ? size : 1);
	for (int i = 0; i < size; i++)
		value[i] = 'a' + i % 26;

	int64_t start = now_ns(), deadline = start + timeout_ms * 1000000;
	for (int64_t i = 0; i < count;) {
		if (rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY,
		                     value, size, NULL, 0, NULL) == 0) {
			i++;
			continue;
		}
		rd_kafka_resp_err_t err = rd_kafka_last_error();
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
			snprintf(out->err, sizeof(out->err), "produce record %lld: %s",
			         (long long)i, rd_kafka_err2str(err));
			goto done;
		}
		rd_kafka_poll(rk, 10); // wait for room, as rdkafka_performance does
		if (now_ns() > deadline) {
			snprintf(out->err, sizeof(out->err), "produce: timed out after %lld records",
			         (long long)i);
			goto done;
		}
	}
	while (st.delivered + st.failed < count) {
		rd_kafka_poll(rk, 100);
		if (now_ns() > deadline) {
			snprintf(out->err, sizeof(out->err),
			         "produce: timed out with %lld of %lld delivered",
			         (long long)(st.delivered + st.failed), (long long)count);
			goto done;
		}
	}
	out->nanos = now_ns() - start;
	out->records = st.delivered;
	out->failed = st.failed;
	if (st.failed)
		fprintf(stderr, "delivery failed: %s\n", rd_kafka_err2str(st.first_err));
done:
	free(value);
	rd_kafka_flush(rk, 10000);
	rd_kafka_topic_destroy(rkt);
	rd_kafka_destroy(rk);
}

typedef struct {
	int64_t seen, first_ns;
	int size;
	rd_kafka_resp_err_t first_err; // first error reported by a message
	int bad_len;
} consume_state;

// consume_cb counts records (both consumers). A message carrying an error
// (a broker or transport error librdkafka retries by itself) is reported
// once and otherwise ignored, as the Go path ignores non-fatal errors; the
// run's deadline bounds a consumer that never recovers.
static void consume_cb(rd_kafka_message_t *m, void *opaque) {
	consume_state *st = opaque;
	if (m->err) {
		if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF && st->first_err == 0) {
			st->first_err = m->err;
			fprintf(stderr, "consume: %s (continuing)\n", rd_kafka_err2str(m->err));
		}
		return;
	}
	if ((int)m->len != st->size) {
		st->bad_len = (int)m->len;
		return;
	}
	if (st->seen++ == 0)
		st->first_ns = now_ns();
}

// consume_failed reports, with out->err set, why a consumer must stop: a
// fatal client error, a record of the wrong size, or the deadline.
static int consume_failed(rd_kafka_t *rk, const consume_state *st, int64_t count,
                          int64_t deadline, phase *out) {
	char fatal[256];
	if (rd_kafka_fatal_error(rk, fatal, sizeof(fatal))) {
		snprintf(out->err, sizeof(out->err), "consume: fatal: %s", fatal);
		return 1;
	}
	if (st->bad_len) {
		snprintf(out->err, sizeof(out->err), "consume: record of %d bytes, want %d",
		         st->bad_len, st->size);
		return 1;
	}
	if (now_ns() > deadline) {
		snprintf(out->err, sizeof(out->err), "consume: timed out after %lld of %lld records%s%s",
		         (long long)st->seen, (long long)count,
		         st->first_err ? "; first error: " : "",
		         st->first_err ? rd_kafka_err2str(st->first_err) : "");
		return 1;
	}
	return 0;
}

void native_consume(const char **names, const char **values, int nconf,
                    const char *topic, int partitions, int64_t count, int size,
                    int64_t timeout_ms, phase *out) {
	memset(out, 0, sizeof(*out));
	consume_state st = {.size = size};
	rd_kafka_t *rk = new_client(RD_KAFKA_CONSUMER, names, values, nconf, NULL, out);
	if (rk == NULL)
		return;
	rd_kafka_topic_t *rkt = open_topic(rk, topic, out);
	if (rkt == NULL) {
		rd_kafka_destroy(rk);
		return;
	}
	rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
	int started = 0;
	for (; started < partitions; started++) {
		if (rd_kafka_consume_start_queue(rkt, started, RD_KAFKA_OFFSET_BEGINNING, q) == -1) {
			snprintf(out->err, sizeof(out->err), "start partition %d: %s", started,
			         rd_kafka_err2str(rd_kafka_last_error()));
			goto done;
		}
	}
	int64_t deadline = now_ns() + timeout_ms * 1000000;
	while (st.seen < count) {
		rd_kafka_consume_callback_queue(q, 100, consume_cb, &st);
		if (consume_failed(rk, &st, count, deadline, out))
			goto done;
	}
	out->nanos = now_ns() - st.first_ns;
	out->records = st.seen;
done:
	for (int p = 0; p < started; p++)
		rd_kafka_consume_stop(rkt, p);
	rd_kafka_queue_destroy(q);
	rd_kafka_topic_destroy(rkt);
	rd_kafka_destroy(rk);
}

void native_consume_group(const char **names, const char **values, int nconf,
                          const char *topic, int64_t count, int size,
                          int64_t timeout_ms, phase *out) {
	memset(out, 0, sizeof(*out));
	rd_kafka_t *rk = new_client(RD_KAFKA_CONSUMER, names, values, nconf, NULL, out);
	if (rk == NULL)
		return;
	rd_kafka_poll_set_consumer(rk);
	rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(topics, topic, RD_KAFKA_PARTITION_UA);
	rd_kafka_resp_err_t err = rd_kafka_subscribe(rk, topics);
	rd_kafka_topic_partition_list_destroy(topics);
	if (err) {
		snprintf(out->err, sizeof(out->err), "subscribe: %s", rd_kafka_err2str(err));
		rd_kafka_destroy(rk);
		return;
	}
	consume_state st = {.size = size};
	int64_t deadline = now_ns() + timeout_ms * 1000000;
	while (st.seen < count) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
		if (m != NULL) {
			consume_cb(m, &st);
			rd_kafka_message_destroy(m);
		}
		if (consume_failed(rk, &st, count, deadline, out))
			goto done;
	}
	// Commit what was read (NULL: the current assignment's positions).
	err = rd_kafka_commit(rk, NULL, 0);
	if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
		snprintf(out->err, sizeof(out->err), "commit: %s", rd_kafka_err2str(err));
		goto done;
	}
	out->nanos = now_ns() - st.first_ns;
	out->records = st.seen;
done:
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
}
