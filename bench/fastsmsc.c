/* fastsmsc: a benchmark SMPP 3.4 SMSC that is not the bottleneck, and a bare client to prove it.
 *
 *   fastsmsc [--host 127.0.0.1] [--port 0] [--ids dec|hex] [--dlr requested|always|never]
 *   fastsmsc --client PORT N WINDOW [--host 127.0.0.1]
 *
 * Server: single-threaded poll() loop. Every submit_sm is answered at once with submit_sm_resp
 * (message_id from a counter, decimal or hex) and, when the submit asked for one
 * (registered_delivery & 3 == 1; "always" ignores the flag), a delivery receipt deliver_sm right
 * behind it: esm_class 0x04, the SMPP 3.4 appendix B text "id:... sub:001 dlvrd:001 submit
 * date:YYMMDDhhmm done date:YYMMDDhhmm stat:DELIVRD err:000 text:<first 20 chars>", and the
 * receipted_message_id and message_state (2 = DELIVERED) TLVs. A receipt for a submit made on a
 * transmitter bind goes to a receiver/transceiver bind (held in memory until one binds). All the
 * responses to one read() are written with one write() (batched). deliver_sm_resp is consumed
 * and counted; bind_*, enquire_link, unbind are answered; any other command gets generic_nack
 * (ESME_RINVCMDID); a command_length outside 16..65536 closes that connection.
 *
 * --http-port: also an HTTP sink (a dlr-url for Kannel's smsbox) answering every request "200 ok"
 * with keep-alive, counted as http_requests.
 *
 * The port is printed on stdout first (as tests/fakes/smsc.py does), then the HTTP port if any. SIGUSR1 prints the counters
 * as one line "submits=.. receipts=.. receipt_acks=.. receipt_errors=.. binds=.. ..." on stdout;
 * SIGTERM/SIGINT exit.
 *
 * Client: binds transceiver, keeps WINDOW submit_sm outstanding, answers every deliver_sm, and
 * prints "submits_per_s=.. receipts_per_s=.." once N submit_sm_resp and N receipts arrived.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 4096   /* smsbox opens up to max-pending-requests (512) HTTP connections */
#define MAX_PDU 65536
#define READ_CHUNK (256 * 1024)
#define OUT_HIGH (8 * 1024 * 1024)   /* stop reading a peer that does not read its answers */

enum { BIND_NONE = 0, BIND_RX = 1, BIND_TX = 2, BIND_TRX = 3 };

typedef struct {
    unsigned char *p;
    size_t len, cap, off;   /* data is p[off .. len) */
} buf_t;

typedef struct {
    int fd;
    int bind;               /* BIND_* */
    int closing;            /* close once the output is flushed */
    int http;               /* a connection to the HTTP sink, not SMPP */
    uint32_t seq;           /* our own sequence numbers (deliver_sm) */
    buf_t in, out;
} conn_t;

static conn_t conns[MAX_CONNS];
static int nconns;
static volatile sig_atomic_t want_stats, want_exit;
static int ids_hex, dlr_mode = 0;   /* dlr_mode: 0 requested, 1 always, 2 never */
static uint64_t next_id = 1;
static buf_t pending;                /* receipts waiting for a receiving bind (whole PDUs, seq 0) */
static struct {
    unsigned long long submits, receipts, receipt_acks, receipt_errors, binds, unbinds,
        enquire_links, nacks_sent, nacks_received, bytes_in, bytes_out, conns, bad_frames,
        http_requests;
} st;

static void die(const char *what) { perror(what); exit(1); }

static void buf_reserve(buf_t *b, size_t extra) {
    if (b->off && b->off == b->len) b->off = b->len = 0;
    if (b->len + extra <= b->cap) return;
    if (b->off) {   /* compact before growing */
        memmove(b->p, b->p + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
        if (b->len + extra <= b->cap) return;
    }
    size_t cap = b->cap ? b->cap : 65536;
    while (cap < b->len + extra) cap *= 2;
    b->p = realloc(b->p, cap);
    if (!b->p) die("realloc");
    b->cap = cap;
}

static void put32(unsigned char *p, uint32_t v) {
    p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v;
}
static uint32_t get32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Append a PDU: header + body; returns a pointer to the body so callers can fill it in place. */
static unsigned char *pdu_begin(buf_t *b, uint32_t cmd, uint32_t status, uint32_t seq, size_t body) {
    buf_reserve(b, 16 + body);
    unsigned char *h = b->p + b->len;
    put32(h, 16 + body); put32(h + 4, cmd); put32(h + 8, status); put32(h + 12, seq);
    b->len += 16 + body;
    return h + 16;
}

static void resp_cstr(conn_t *c, uint32_t cmd, uint32_t status, uint32_t seq, const char *s) {
    size_t n = strlen(s) + 1;
    memcpy(pdu_begin(&c->out, cmd, status, seq, n), s, n);
}

static void generic_nack(conn_t *c, uint32_t status, uint32_t seq) {
    pdu_begin(&c->out, 0x80000000u, status, seq, 0);
    st.nacks_sent++;
}

/* A C-string field at *pos (bounded by end); NULL if the NUL is missing. */
static const char *cstr(const unsigned char *body, size_t *pos, size_t end, size_t *n) {
    const unsigned char *s = body + *pos;
    const unsigned char *z = memchr(s, 0, end - *pos);
    if (!z) return NULL;
    *n = z - s;
    *pos += *n + 1;
    return (const char *)s;
}

static char datestr[16];
static time_t datestr_at;

static const char *now_date(void) {
    time_t t = time(NULL);
    if (t != datestr_at) {
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(datestr, sizeof datestr, "%y%m%d%H%M", &tm);
        datestr_at = t;
    }
    return datestr;
}

/* The receipt deliver_sm for one accepted submit: addresses swapped. */
static void build_receipt(buf_t *b, uint32_t seq, const char *id, const char *src, size_t srcn,
                          int src_ton, int src_npi, const char *dst, size_t dstn, int dst_ton,
                          int dst_npi, const unsigned char *sm, size_t smn) {
    char text[256], clean[21];
    size_t k = smn < 20 ? smn : 20;
    for (size_t i = 0; i < k; i++) clean[i] = (sm[i] >= 32 && sm[i] < 127) ? sm[i] : '?';
    clean[k] = 0;
    const char *d = now_date();
    int tn = snprintf(text, sizeof text,
                      "id:%s sub:001 dlvrd:001 submit date:%s done date:%s stat:DELIVRD err:000 text:%s",
                      id, d, d, clean);
    if (tn > 254) tn = 254;
    size_t idn = strlen(id) + 1;
    /* service_type(1) src ton npi addr, dst ton npi addr, esm pid prio sched(1) valid(1) rd
       replace dc defid sm_length sm, TLVs: 0x001E receipted_message_id, 0x0427 message_state */
    size_t body = 1 + 2 + dstn + 1 + 2 + srcn + 1 + 3 + 1 + 1 + 5 + tn + 4 + idn + 4 + 1;
    unsigned char *p = pdu_begin(b, 0x00000005u, 0, seq, body);
    *p++ = 0;                                              /* service_type */
    *p++ = dst_ton; *p++ = dst_npi;                        /* source = the handset */
    memcpy(p, dst, dstn); p += dstn; *p++ = 0;
    *p++ = src_ton; *p++ = src_npi;                        /* destination = the sender */
    memcpy(p, src, srcn); p += srcn; *p++ = 0;
    *p++ = 0x04; *p++ = 0; *p++ = 0;                       /* esm_class receipt, pid, priority */
    *p++ = 0; *p++ = 0;                                    /* schedule, validity */
    *p++ = 0; *p++ = 0; *p++ = 0; *p++ = 0;                /* rd, replace, data_coding, default id */
    *p++ = tn;
    memcpy(p, text, tn); p += tn;
    *p++ = 0x00; *p++ = 0x1E; *p++ = idn >> 8; *p++ = idn;
    memcpy(p, id, idn); p += idn;
    *p++ = 0x04; *p++ = 0x27; *p++ = 0; *p++ = 1;
    *p++ = 2;                                              /* DELIVERED */
}

static conn_t *receiver_for(conn_t *c) {
    if (c->bind & BIND_RX) return c;
    for (int i = 0; i < nconns; i++)
        if ((conns[i].bind & BIND_RX) && !conns[i].closing) return &conns[i];
    return NULL;
}

/* Renumber and hand over the receipts held for want of a receiver. */
static void flush_pending(conn_t *r) {
    size_t pos = pending.off;
    while (pos + 16 <= pending.len) {
        uint32_t len = get32(pending.p + pos);
        unsigned char *dst = pdu_begin(&r->out, 0, 0, 0, len - 16) - 16;
        memcpy(dst, pending.p + pos, len);
        put32(dst + 12, ++r->seq);
        st.receipts++;
        pos += len;
    }
    pending.off = pending.len = 0;
}

static void on_submit(conn_t *c, uint32_t seq, const unsigned char *body, size_t n) {
    size_t pos = 0, stl, srcn, dstn, sn;
    const char *src, *dst;
    if (!(c->bind & BIND_TX)) {
        resp_cstr(c, 0x80000004u, 0x04, seq, "");          /* ESME_RINVBNDSTS */
        return;
    }
    if (!cstr(body, &pos, n, &stl) || pos + 2 > n) goto bad;
    int src_ton = body[pos], src_npi = body[pos + 1];
    pos += 2;
    if (!(src = cstr(body, &pos, n, &srcn)) || pos + 2 > n) goto bad;
    int dst_ton = body[pos], dst_npi = body[pos + 1];
    pos += 2;
    if (!(dst = cstr(body, &pos, n, &dstn)) || pos + 3 > n) goto bad;
    pos += 3;                                                /* esm_class, protocol_id, priority */
    if (!cstr(body, &pos, n, &sn) || !cstr(body, &pos, n, &sn) || pos + 5 > n) goto bad;
    int rd = body[pos];
    size_t smn = body[pos + 4];
    pos += 5;
    if (pos + smn > n) goto bad;
    const unsigned char *sm = body + pos;
    pos += smn;
    while (smn == 0 && pos + 4 <= n) {                       /* message_payload TLV instead */
        uint32_t tag = body[pos] << 8 | body[pos + 1], tl = body[pos + 2] << 8 | body[pos + 3];
        if (pos + 4 + tl > n) break;
        if (tag == 0x0424) { sm = body + pos + 4; smn = tl; break; }
        pos += 4 + tl;
    }
    char id[24];
    if (ids_hex) snprintf(id, sizeof id, "%llx", (unsigned long long)next_id++);
    else snprintf(id, sizeof id, "%llu", (unsigned long long)next_id++);
    resp_cstr(c, 0x80000004u, 0, seq, id);
    st.submits++;
    if (dlr_mode == 2 || (dlr_mode == 0 && (rd & 3) != 1)) return;
    conn_t *r = receiver_for(c);
    if (r) {
        build_receipt(&r->out, ++r->seq, id, src, srcn, src_ton, src_npi, dst, dstn, dst_ton,
                      dst_npi, sm, smn);
        st.receipts++;
    } else {
        build_receipt(&pending, 0, id, src, srcn, src_ton, src_npi, dst, dstn, dst_ton, dst_npi,
                      sm, smn);
    }
    return;
bad:
    resp_cstr(c, 0x80000004u, 0x01, seq, "");               /* ESME_RINVMSGLEN: truncated body */
}

static void on_pdu(conn_t *c, const unsigned char *h) {
    uint32_t len = get32(h), cmd = get32(h + 4), status = get32(h + 8), seq = get32(h + 12);
    const unsigned char *body = h + 16;
    size_t n = len - 16;
    switch (cmd) {
    case 0x00000004u: on_submit(c, seq, body, n); break;
    case 0x80000005u:                                        /* deliver_sm_resp */
        if (status == 0) st.receipt_acks++; else st.receipt_errors++;
        break;
    case 0x00000001u: case 0x00000002u: case 0x00000009u: {  /* bind_receiver/transmitter/transceiver */
        if (c->bind) { resp_cstr(c, cmd | 0x80000000u, 0x05, seq, ""); break; }   /* RALYBND */
        c->bind = cmd == 1 ? BIND_RX : cmd == 2 ? BIND_TX : BIND_TRX;
        resp_cstr(c, cmd | 0x80000000u, 0, seq, "fastsmsc");
        st.binds++;
        if ((c->bind & BIND_RX) && pending.len > pending.off) flush_pending(c);
        break;
    }
    case 0x00000015u:                                        /* enquire_link */
        pdu_begin(&c->out, 0x80000015u, 0, seq, 0);
        st.enquire_links++;
        break;
    case 0x00000006u:                                        /* unbind */
        pdu_begin(&c->out, 0x80000006u, 0, seq, 0);
        c->closing = 1;
        st.unbinds++;
        break;
    case 0x80000015u: case 0x80000006u: break;               /* answers to our own (none sent) */
    case 0x80000000u: st.nacks_received++; break;
    default:
        if (!(cmd & 0x80000000u)) generic_nack(c, 0x03, seq);   /* ESME_RINVCMDID */
    }
}

static void print_stats(void) {
    printf("submits=%llu receipts=%llu receipt_acks=%llu receipt_errors=%llu binds=%llu unbinds=%llu "
           "enquire_links=%llu nacks_sent=%llu nacks_received=%llu bytes_in=%llu bytes_out=%llu "
           "conns=%llu bad_frames=%llu http_requests=%llu pending=%zu\n",
           st.submits, st.receipts, st.receipt_acks, st.receipt_errors, st.binds, st.unbinds,
           st.enquire_links, st.nacks_sent, st.nacks_received, st.bytes_in, st.bytes_out, st.conns,
           st.bad_frames, st.http_requests, pending.len - pending.off);
    fflush(stdout);
}

static void on_signal(int sig) {
    if (sig == SIGUSR1) want_stats = 1; else want_exit = 1;
}

static void close_conn(int i) {
    close(conns[i].fd);
    free(conns[i].in.p);
    free(conns[i].out.p);
    conns[i] = conns[--nconns];
}

/* The HTTP sink (a dlr-url for Kannel's smsbox): every request gets "200 ok", keep-alive. */
static int drain_http(conn_t *c) {
    static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok";
    for (;;) {
        unsigned char *s = c->in.p + c->in.off;
        size_t have = c->in.len - c->in.off;
        unsigned char *e = memmem(s, have, "\r\n\r\n", 4);
        if (!e) return have > MAX_PDU ? -1 : 0;
        size_t head = e + 4 - s, body = 0;
        unsigned char *cl = memmem(s, head, "\r\nContent-Length:", 17);
        if (!cl) cl = memmem(s, head, "\r\ncontent-length:", 17);
        if (cl) body = strtoul((char *)cl + 17, NULL, 10);
        if (have < head + body) return 0;
        c->in.off += head + body;
        buf_reserve(&c->out, sizeof reply - 1);
        memcpy(c->out.p + c->out.len, reply, sizeof reply - 1);
        c->out.len += sizeof reply - 1;
        st.http_requests++;
    }
}

/* Cut and handle every whole PDU in the input buffer; -1 on a framing error. */
static int drain_input(conn_t *c) {
    if (c->http) return drain_http(c);
    while (c->in.len - c->in.off >= 16 && !c->closing) {
        unsigned char *h = c->in.p + c->in.off;
        uint32_t len = get32(h);
        if (len < 16 || len > MAX_PDU) { st.bad_frames++; return -1; }
        if (c->in.len - c->in.off < len) break;
        on_pdu(c, h);
        c->in.off += len;
    }
    return 0;
}

static int flush_out(conn_t *c) {
    while (c->out.len > c->out.off) {
        ssize_t w = write(c->fd, c->out.p + c->out.off, c->out.len - c->out.off);
        if (w < 0) return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
        c->out.off += w;
        st.bytes_out += w;
    }
    c->out.off = c->out.len = 0;
    return 0;
}

static int listen_on(const char *host, int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    if (fd < 0) die("socket");
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1) { fprintf(stderr, "bad host %s\n", host); exit(2); }
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) die("bind");
    if (listen(fd, 1024) < 0) die("listen");
    socklen_t al = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &al);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    printf("%d\n", ntohs(a.sin_port));
    fflush(stdout);
    return fd;
}

static int serve(const char *host, int port, int http_port) {
    int lfd = listen_on(host, port);
    int hfd = http_port >= 0 ? listen_on(host, http_port) : -1;
    struct pollfd pfd[MAX_CONNS + 2];
    static unsigned char chunk[READ_CHUNK];
    int one = 1;
    while (!want_exit) {
        if (want_stats) { want_stats = 0; print_stats(); }
        pfd[0] = (struct pollfd){.fd = lfd, .events = POLLIN};
        for (int i = 0; i < nconns; i++) {
            conn_t *c = &conns[i];
            short ev = 0;
            if (!c->closing && c->out.len - c->out.off < OUT_HIGH) ev |= POLLIN;
            if (c->out.len > c->out.off) ev |= POLLOUT;
            pfd[i + 1] = (struct pollfd){.fd = c->fd, .events = ev};
        }
        pfd[nconns + 1] = (struct pollfd){.fd = hfd, .events = POLLIN};   /* fd -1: ignored */
        int k = poll(pfd, nconns + 2, 1000);
        if (k < 0) { if (errno == EINTR) continue; die("poll"); }
        int polled = k > 0 ? nconns : 0;   /* connections that have a pollfd entry this round */
        short hre = pfd[nconns + 1].revents;
        for (int l = 0; l < 2; l++) {
            if (!((l ? hre : pfd[0].revents) & POLLIN)) continue;
            int fd;
            while ((fd = accept4(l ? hfd : lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                if (nconns == MAX_CONNS) {
                    fprintf(stderr, "fastsmsc: %d connections, refusing one\n", MAX_CONNS);
                    close(fd);
                    continue;
                }
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                conns[nconns++] = (conn_t){.fd = fd, .http = l};
                if (!l) st.conns++;
            }
        }
        /* Walk backwards: close_conn moves the last connection (already handled) into slot i.
           Connections accepted just now have no pollfd entry yet and wait for the next round. */
        for (int i = polled - 1; i >= 0; i--) {
            conn_t *c = &conns[i];
            if (pfd[i + 1].fd != c->fd) continue;
            short re = pfd[i + 1].revents;
            int dead = 0;
            if (re & (POLLIN | POLLHUP | POLLERR)) {
                for (;;) {   /* until EAGAIN, so a burst is answered with one write */
                    ssize_t r = read(c->fd, chunk, sizeof chunk);
                    if (r == 0) { dead = 1; break; }
                    if (r < 0) { if (errno != EAGAIN && errno != EINTR) dead = 1; break; }
                    st.bytes_in += r;
                    /* Acknowledge at once: a peer with Nagle on (Kannel) otherwise waits for our
                       delayed ACK (40 ms) before sending its next small PDU. Linux clears the
                       flag after each ACK, hence after every read. */
                    setsockopt(c->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
                    buf_reserve(&c->in, r);
                    memcpy(c->in.p + c->in.len, chunk, r);
                    c->in.len += r;
                    if (drain_input(c) < 0) { dead = 1; break; }
                    if (r < (ssize_t)sizeof chunk || c->out.len - c->out.off >= OUT_HIGH) break;
                }
            }
            /* Receipts for a transmitter land on another connection: flush everyone touched. */
            if (!dead && flush_out(c) < 0) dead = 1;
            if (dead || (c->closing && c->out.len == c->out.off)) close_conn(i);
        }
        for (int i = 0; i < nconns; i++)
            if (conns[i].out.len > conns[i].out.off && flush_out(&conns[i]) < 0) conns[i].closing = 1;
    }
    print_stats();
    return 0;
}

/* ---- the bare client ------------------------------------------------------------------------ */

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void client_submit(buf_t *b, uint32_t seq, long i) {
    char dst[24], text[32];
    int dn = snprintf(dst, sizeof dst, "1415%07ld", 5550000 + i % 1000000);
    int tn = snprintf(text, sizeof text, "bench message %ld", i);
    static const char src[] = "14155550100";
    size_t body = 1 + 2 + sizeof src + 2 + dn + 1 + 3 + 1 + 1 + 5 + tn;
    unsigned char *p = pdu_begin(b, 0x00000004u, 0, seq, body);
    *p++ = 0; *p++ = 1; *p++ = 1;
    memcpy(p, src, sizeof src); p += sizeof src;
    *p++ = 1; *p++ = 1;
    memcpy(p, dst, dn); p += dn; *p++ = 0;
    *p++ = 0; *p++ = 0; *p++ = 0; *p++ = 0; *p++ = 0;
    *p++ = 1; *p++ = 0; *p++ = 0; *p++ = 0;   /* registered_delivery 1 */
    *p++ = tn;
    memcpy(p, text, tn);
}

static int client(const char *host, int port, long n, long window) {
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, host, &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) die("connect");
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    conn_t c = {.fd = fd};
    /* system_id, password, system_type, interface_version 0x34, ton, npi, address_range (the
       implicit NUL) */
    static const char bindbody[] = "bare\0bare\0\0\x34\0\0";
    memcpy(pdu_begin(&c.out, 0x00000009u, 0, ++c.seq, sizeof bindbody), bindbody, sizeof bindbody);
    long sent = 0, acked = 0, receipts = 0, bound = 0;
    double t0 = 0, t_acked = 0;
    static unsigned char chunk[READ_CHUNK];
    while (receipts < n || acked < n) {
        if (bound) {
            if (!t0) t0 = now_s();
            while (sent < n && sent - acked < window) client_submit(&c.out, ++c.seq, sent++);
        }
        if (flush_out(&c) < 0) die("write");
        ssize_t r = read(fd, chunk, sizeof chunk);   /* blocking: the SMSC always answers */
        if (r <= 0) { fprintf(stderr, "SMSC closed the connection\n"); return 1; }
        buf_reserve(&c.in, r);
        memcpy(c.in.p + c.in.len, chunk, r);
        c.in.len += r;
        while (c.in.len - c.in.off >= 16) {
            unsigned char *h = c.in.p + c.in.off;
            uint32_t len = get32(h), cmd = get32(h + 4);
            if (c.in.len - c.in.off < len) break;
            if (cmd == 0x80000009u) bound = 1;
            else if (cmd == 0x80000004u) { if (++acked == n) t_acked = now_s(); }
            else if (cmd == 0x00000005u) { pdu_begin(&c.out, 0x80000005u, 0, get32(h + 12), 1)[0] = 0; receipts++; }
            c.in.off += len;
        }
    }
    double t1 = now_s();
    flush_out(&c);   /* the last deliver_sm_resps */
    printf("submits_per_s=%.0f receipts_per_s=%.0f\n", n / (t_acked - t0), n / (t1 - t0));
    return 0;
}

int main(int argc, char **argv) {
    const char *host = "127.0.0.1";
    int port = 0, http_port = -1;
    long cn = 0, cw = 0;
    int client_mode = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--host") && i + 1 < argc) host = argv[++i];
        else if (!strcmp(argv[i], "--port") && i + 1 < argc) port = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--http-port") && i + 1 < argc) http_port = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--ids") && i + 1 < argc) ids_hex = !strcmp(argv[++i], "hex");
        else if (!strcmp(argv[i], "--dlr") && i + 1 < argc) {
            const char *m = argv[++i];
            dlr_mode = !strcmp(m, "always") ? 1 : !strcmp(m, "never") ? 2 : 0;
        } else if (!strcmp(argv[i], "--client") && i + 3 < argc) {
            client_mode = 1;
            port = atoi(argv[++i]); cn = atol(argv[++i]); cw = atol(argv[++i]);
        } else {
            fprintf(stderr, "usage: %s [--host H] [--port P] [--ids dec|hex] [--dlr requested|always|never]\n"
                            "       [--http-port P]\n"
                            "       %s --client PORT N WINDOW [--host H]\n", argv[0], argv[0]);
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;   /* as many connections as the hard limit allows */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (client_mode) return client(host, port, cn, cw);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    return serve(host, port, http_port);
}
