// Ground truth for nrec's eBPF accounting: every I/O path the README claims is counted, each
// run by its own process with its own name (prctl), which prints what its system calls
// returned — {"name":..., "tx":..., "rx":...} — for the test to compare with what nrec
// stored under that name. Bounded: a few MB over loopback (or a test's veth), 30 s alarm.
//
//   iopaths local            every path over 127.0.0.1 / ::1
//   iopaths zcrecv           4 MiB received with TCP_ZEROCOPY_RECEIVE (the known gap)
//   iopaths veth NSA NSB IP  a client in namespace NSA sends 1 MB to a server in NSB at IP
//
// Built by the test with `cc -O1 iopaths.c -luring -lpthread`.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#define N 100000L
static char buf[1 << 20];
static long tx, rx;

static void die(const char *what)
{
	perror(what);
	exit(2);
}

static void named(const char *n)
{
	prctl(PR_SET_NAME, n, 0, 0, 0);
}

static void report(const char *n)
{
	printf("{\"name\":\"%s\",\"tx\":%ld,\"rx\":%ld}\n", n, tx, rx);
	fflush(stdout);
}

static void loopback(int fam, struct sockaddr_storage *a, socklen_t *len)
{
	memset(a, 0, sizeof(*a));
	if (fam == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)a;
		s->sin_family = AF_INET;
		s->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		*len = sizeof(*s);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)a;
		s->sin6_family = AF_INET6;
		s->sin6_addr = in6addr_loopback;
		*len = sizeof(*s);
	}
}

static int listener(int fam, struct sockaddr_storage *a, socklen_t *len)
{
	int l = socket(fam, SOCK_STREAM, 0);
	loopback(fam, a, len);
	if (l < 0 || bind(l, (struct sockaddr *)a, *len) || listen(l, 4096) ||
	    getsockname(l, (struct sockaddr *)a, len))
		die("listener");
	return l;
}

// A connected TCP pair over loopback: *c the client, *s the accepted side.
static void tcp_pair(int fam, int *c, int *s)
{
	struct sockaddr_storage a;
	socklen_t len;
	int l = listener(fam, &a, &len);
	*c = socket(fam, SOCK_STREAM, 0);
	if (*c < 0 || connect(*c, (struct sockaddr *)&a, len))
		die("connect");
	*s = accept(l, NULL, NULL);
	if (*s < 0)
		die("accept");
	close(l);
}

// Two UDP sockets of family `fam` bound to loopback and connected to each other.
static void udp_pair(int fam, int *a, int *b)
{
	struct sockaddr_storage x, y;
	socklen_t lx, ly;
	*a = socket(fam, SOCK_DGRAM, 0);
	*b = socket(fam, SOCK_DGRAM, 0);
	loopback(fam, &x, &lx);
	loopback(fam, &y, &ly);
	if (bind(*a, (struct sockaddr *)&x, lx) || bind(*b, (struct sockaddr *)&y, ly) ||
	    getsockname(*a, (struct sockaddr *)&x, &lx) || getsockname(*b, (struct sockaddr *)&y, &ly) ||
	    connect(*a, (struct sockaddr *)&y, ly) || connect(*b, (struct sockaddr *)&x, lx))
		die("udp pair");
}

static void count_tx(long r, const char *what)
{
	if (r < 0)
		die(what);
	tx += r;
}

static void count_rx(long r, const char *what)
{
	if (r <= 0)
		die(what);
	rx += r;
}

// Reads exactly n bytes with read(2).
static void drain(int fd, long n)
{
	while (n > 0) {
		long r = read(fd, buf, n < (long)sizeof(buf) ? n : (long)sizeof(buf));
		count_rx(r, "read");
		n -= r;
	}
}

static void send_all(int fd, long n, int flags)
{
	while (n > 0) {
		long r = send(fd, buf, n < 65536 ? n : 65536, flags);
		count_tx(r, "send");
		n -= r;
	}
}

static void p_tcp(int fam)
{
	int c, s;
	tcp_pair(fam, &c, &s);
	for (int i = 0; i < 10; i++) {
		send_all(c, N / 10, 0);
		drain(s, N / 10);
	}
}

static void p_udp(int fam)
{
	int a, b;
	udp_pair(fam, &a, &b);
	for (int i = 0; i < 50; i++) {
		count_tx(send(a, buf, 1000 + i, 0), "send");
		count_rx(recv(b, buf, sizeof(buf), 0), "recv");
	}
}

// An AF_INET6 socket sending to ::ffff:127.0.0.1 (v4-mapped), received by an AF_INET socket.
static void p_mapped(void)
{
	int r4 = socket(AF_INET, SOCK_DGRAM, 0), s6 = socket(AF_INET6, SOCK_DGRAM, 0);
	struct sockaddr_storage a;
	socklen_t len;
	loopback(AF_INET, &a, &len);
	if (bind(r4, (struct sockaddr *)&a, len) || getsockname(r4, (struct sockaddr *)&a, &len))
		die("bind");
	struct sockaddr_in6 m = {.sin6_family = AF_INET6, .sin6_port = ((struct sockaddr_in *)&a)->sin_port};
	inet_pton(AF_INET6, "::ffff:127.0.0.1", &m.sin6_addr);
	for (int i = 0; i < 50; i++) {
		count_tx(sendto(s6, buf, 1200, 0, (struct sockaddr *)&m, sizeof(m)), "sendto");
		count_rx(recv(r4, buf, sizeof(buf), 0), "recv");
	}
}

static void p_iov(void)
{
	int c, s;
	tcp_pair(AF_INET, &c, &s);
	struct iovec v[3] = {{buf, 1000}, {buf + 1000, 7000}, {buf + 8000, 2000}};
	for (int i = 0; i < 10; i++) {
		count_tx(writev(c, v, 3), "writev");
		long want = 10000;
		while (want > 0) {
			struct iovec r[2] = {{buf, 3000}, {buf + 3000, 9000}};
			long got = readv(s, r, 2);
			count_rx(got, "readv");
			want -= got;
		}
	}
}

static void p_msg(void)
{
	int c, s;
	tcp_pair(AF_INET6, &c, &s);
	for (int i = 0; i < 10; i++) {
		struct iovec v = {buf, 10000};
		struct msghdr m = {.msg_iov = &v, .msg_iovlen = 1};
		count_tx(sendmsg(c, &m, 0), "sendmsg");
		long want = 10000;
		while (want > 0) {
			struct iovec r = {buf, (size_t)want};
			struct msghdr h = {.msg_iov = &r, .msg_iovlen = 1};
			long got = recvmsg(s, &h, 0);
			count_rx(got, "recvmsg");
			want -= got;
		}
	}
}

static void p_mmsg(void)
{
	int a, b;
	udp_pair(AF_INET, &a, &b);
	struct iovec v[8];
	struct mmsghdr m[8];
	memset(m, 0, sizeof(m));
	for (int i = 0; i < 8; i++) {
		v[i].iov_base = buf + i * 2000;
		v[i].iov_len = 500 + 100 * i;
		m[i].msg_hdr.msg_iov = &v[i];
		m[i].msg_hdr.msg_iovlen = 1;
	}
	for (int k = 0; k < 5; k++) {
		int n = sendmmsg(a, m, 8, 0);
		if (n != 8)
			die("sendmmsg");
		for (int i = 0; i < 8; i++)
			tx += m[i].msg_len;
		int got = 0;
		while (got < 8) {
			for (int i = 0; i < 8; i++)
				v[i].iov_len = 2000;
			int r = recvmmsg(b, m, 8 - got, 0, NULL);
			if (r <= 0)
				die("recvmmsg");
			for (int i = 0; i < r; i++)
				rx += m[i].msg_len;
			got += r;
		}
		for (int i = 0; i < 8; i++)
			v[i].iov_len = 500 + 100 * i;
	}
}

// A peek consumes nothing: only the read after it counts.
static void p_peek(void)
{
	int a, b;
	udp_pair(AF_INET, &a, &b);
	for (int i = 0; i < 20; i++) {
		count_tx(send(a, buf, 3000, 0), "send");
		if (recv(b, buf, sizeof(buf), MSG_PEEK) != 3000)
			die("peek");
		count_rx(recv(b, buf, sizeof(buf), 0), "recv");
	}
}

// MSG_ZEROCOPY sends, their completion notifications read from the error queue (no payload).
static void p_zerocopy(void)
{
	int c, s, one = 1;
	tcp_pair(AF_INET, &c, &s);
	if (setsockopt(c, SOL_SOCKET, SO_ZEROCOPY, &one, sizeof(one)))
		die("SO_ZEROCOPY");
	for (int i = 0; i < 10; i++) {
		send_all(c, N / 10, MSG_ZEROCOPY);
		drain(s, N / 10);
	}
	char ctl[256];
	for (int i = 0; i < 100; i++) {
		struct msghdr m = {.msg_control = ctl, .msg_controllen = sizeof(ctl)};
		if (recvmsg(c, &m, MSG_ERRQUEUE | MSG_DONTWAIT) < 0 && errno == EAGAIN)
			break;
	}
}

static void p_sendfile(void)
{
	int c, s;
	tcp_pair(AF_INET, &c, &s);
	char path[] = "/tmp/nrec-iopaths-XXXXXX";
	int f = mkstemp(path);
	if (f < 0 || write(f, buf, N) != N)
		die("temp file");
	unlink(path);
	off_t off = 0;
	while (off < N) {
		long r = sendfile(c, f, &off, N - off);
		count_tx(r, "sendfile");
		drain(s, r);
	}
}

// splice(2) from a pipe into the socket (the send side: counted; splice *reads* from a socket
// are the known gap the Python suite asserts).
static void p_splice(void)
{
	int c, s, p[2];
	tcp_pair(AF_INET, &c, &s);
	if (pipe(p))
		die("pipe");
	for (int i = 0; i < 10; i++) {
		if (write(p[1], buf, N / 10) != N / 10)
			die("pipe write");
		long left = N / 10;
		while (left > 0) {
			long r = splice(p[0], NULL, c, NULL, left, 0);
			count_tx(r, "splice");
			left -= r;
		}
		drain(s, N / 10);
	}
}

static void *thread_send(void *arg)
{
	prctl(PR_SET_NAME, "a-thread", 0, 0, 0); // a thread's own name: the process's counts
	send_all(*(int *)arg, N, 0);
	return NULL;
}

static void p_thread(void)
{
	int c, s;
	tcp_pair(AF_INET, &c, &s);
	pthread_t t;
	pthread_create(&t, NULL, thread_send, &c);
	drain(s, N);
	pthread_join(t, NULL);
}

// io_uring: one submission, its completion's result counted.
static struct io_uring ring;

static long complete(const char *what)
{
	struct io_uring_cqe *cqe;
	long r;
	for (;;) {
		if (io_uring_wait_cqe(&ring, &cqe))
			die(what);
		r = cqe->res;
		unsigned flags = cqe->flags;
		io_uring_cqe_seen(&ring, cqe);
		if (flags & IORING_CQE_F_NOTIF)
			continue; // SEND_ZC's buffer notification
		if (flags & IORING_CQE_F_MORE) {
			// SEND_ZC: the result comes first, its notification later
			if (io_uring_wait_cqe(&ring, &cqe))
				die(what);
			io_uring_cqe_seen(&ring, cqe);
		}
		break;
	}
	if (r < 0) {
		errno = -r;
		die(what);
	}
	return r;
}

enum uop { U_SEND, U_MSG, U_ZC, U_RW };

static void p_uring(enum uop op, unsigned setup, unsigned sqe_flags)
{
	struct io_uring_params par = {.flags = setup, .sq_thread_idle = 2000};
	if (io_uring_queue_init_params(8, &ring, &par))
		die("io_uring_queue_init");
	int c, s;
	tcp_pair(AF_INET, &c, &s);
	for (int i = 0; i < 10; i++) {
		struct io_uring_sqe *e = io_uring_get_sqe(&ring);
		struct iovec v = {buf, N / 10};
		struct msghdr m = {.msg_iov = &v, .msg_iovlen = 1};
		switch (op) {
		case U_SEND:
			io_uring_prep_send(e, c, buf, N / 10, MSG_WAITALL);
			break;
		case U_MSG:
			io_uring_prep_sendmsg(e, c, &m, MSG_WAITALL);
			break;
		case U_ZC:
			io_uring_prep_send_zc(e, c, buf, N / 10, MSG_WAITALL, 0);
			break;
		case U_RW:
			io_uring_prep_write(e, c, buf, N / 10, 0);
			break;
		}
		e->flags |= sqe_flags;
		io_uring_submit(&ring);
		long sent = complete("uring send");
		tx += sent;
		long left = sent;
		while (left > 0) {
			struct iovec r = {buf, (size_t)left};
			struct msghdr h = {.msg_iov = &r, .msg_iovlen = 1};
			e = io_uring_get_sqe(&ring);
			switch (op) {
			case U_MSG:
				io_uring_prep_recvmsg(e, s, &h, 0);
				break;
			case U_RW:
				io_uring_prep_read(e, s, buf, left, 0);
				break;
			default:
				io_uring_prep_recv(e, s, buf, left, 0);
			}
			e->flags |= sqe_flags;
			io_uring_submit(&ring);
			long got = complete("uring recv");
			if (got == 0)
				die("uring recv: EOF");
			rx += got;
			left -= got;
		}
	}
	io_uring_queue_exit(&ring);
}

// A connection made before fork(): each process is credited with what it sent itself.
static void p_fork(void)
{
	int c, s;
	tcp_pair(AF_INET, &c, &s);
	send_all(c, 10000, 0);
	pid_t k = fork();
	if (k == 0) {
		tx = rx = 0;
		named("nio_fchild");
		send_all(c, 20000, 0);
		report("nio_fchild");
		exit(0);
	}
	drain(s, 30000);
	waitpid(k, NULL, 0);
}

// 2 000 processes, each connecting, sending 100 B and exiting; the parent receives it all.
static void p_short(void)
{
	struct sockaddr_storage a;
	socklen_t len;
	int l = listener(AF_INET, &a, &len);
	long sent = 0;
	for (int i = 0; i < 2000; i++) {
		pid_t k = fork();
		if (k == 0) {
			named("nio_short");
			int c = socket(AF_INET, SOCK_STREAM, 0);
			if (c < 0 || connect(c, (struct sockaddr *)&a, len) || send(c, buf, 100, 0) != 100)
				_exit(3);
			_exit(0);
		}
		int s = accept(l, NULL, NULL);
		if (s < 0)
			die("accept");
		long got = 0, r;
		while ((r = read(s, buf, sizeof(buf))) > 0)
			got += r;
		close(s);
		int st;
		waitpid(k, &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			die("short-lived client");
		rx += got;
		sent += 100;
	}
	printf("{\"name\":\"nio_short\",\"tx\":%ld,\"rx\":0}\n", sent);
}

// TCP_ZEROCOPY_RECEIVE: the receiver maps received pages (and gets the rest through the copy
// buffer) instead of calling recvmsg; only what it reads with recv(2) passes the tracepoint.
// Prints the bytes received each way: "rx" by recv(2), "zc" by the getsockopt.
// The kernel's struct tcp_zerocopy_receive (include/uapi/linux/tcp.h, 5.11+); glibc's
// netinet/tcp.h has only its first fields.
struct zc_receive {
	unsigned long long address;
	unsigned int length, recv_skip_hint, inq;
	int err;
	unsigned long long copybuf_address;
	int copybuf_len;
	unsigned int flags;
	unsigned long long msg_control, msg_controllen;
	unsigned int msg_flags, reserved;
};

static void p_zcrecv(void)
{
	int c, s;
	tcp_pair(AF_INET, &c, &s);
	const long total = 4L << 20, chunk = 1L << 20;
	pid_t k = fork();
	if (k == 0) {
		send_all(c, total, 0);
		_exit(0);
	}
	close(c);
	void *addr = mmap(NULL, chunk, PROT_READ, MAP_SHARED, s, 0);
	if (addr == MAP_FAILED)
		die("mmap of the socket");
	static char copy[1 << 16];
	long zc_bytes = 0, got = 0;
	while (got < total) {
		struct zc_receive zc;
		memset(&zc, 0, sizeof(zc));
		zc.address = (unsigned long)addr;
		zc.length = chunk;
		zc.copybuf_address = (unsigned long)copy;
		zc.copybuf_len = sizeof(copy);
		socklen_t zl = sizeof(zc);
		if (getsockopt(s, IPPROTO_TCP, TCP_ZEROCOPY_RECEIVE, &zc, &zl))
			die("TCP_ZEROCOPY_RECEIVE");
		long n = (long)zc.length + (zc.copybuf_len > 0 ? zc.copybuf_len : 0);
		zc_bytes += n;
		got += n;
		if (zc.recv_skip_hint) {
			long r = recv(s, buf, zc.recv_skip_hint, 0);
			count_rx(r, "recv");
			got += r;
		} else if (n == 0) {
			long r = recv(s, buf, sizeof(buf) < (size_t)(total - got) ? sizeof(buf) : (size_t)(total - got), 0);
			count_rx(r, "recv");
			got += r;
		}
	}
	waitpid(k, NULL, 0);
	// tx: the forked sender has the same name
	printf("{\"name\":\"nio_zcrecv\",\"tx\":%ld,\"rx\":%ld,\"zc\":%ld}\n", total, rx, zc_bytes);
	exit(0);
}

static void run(const char *n, void (*f)(void))
{
	fflush(stdout);
	pid_t k = fork();
	if (k < 0)
		die("fork");
	if (k == 0) {
		named(n);
		tx = rx = 0;
		f();
		report(n);
		exit(0);
	}
	int st;
	if (waitpid(k, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "%s failed\n", n);
		exit(2);
	}
}

static void p_tcp4(void) { p_tcp(AF_INET); }
static void p_tcp6(void) { p_tcp(AF_INET6); }
static void p_udp4(void) { p_udp(AF_INET); }
static void p_udp6(void) { p_udp(AF_INET6); }
static void p_ur_send(void) { p_uring(U_SEND, 0, 0); }
static void p_ur_msg(void) { p_uring(U_MSG, 0, 0); }
static void p_ur_zc(void) { p_uring(U_ZC, 0, 0); }
static void p_ur_rw(void) { p_uring(U_RW, 0, 0); }
static void p_ur_async(void) { p_uring(U_SEND, 0, IOSQE_ASYNC); }
static void p_ur_sqpoll(void) { p_uring(U_SEND, IORING_SETUP_SQPOLL, 0); }

static void enter(const char *ns)
{
	char path[256];
	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	int fd = open(path, O_RDONLY);
	if (fd < 0 || setns(fd, CLONE_NEWNET))
		die(path);
	close(fd);
}

// A client in namespace `a` sends 1 MB to a server in `b` over the test's veth pair.
static int veth(const char *a, const char *b, const char *ip)
{
	int p[2];
	if (pipe(p))
		die("pipe");
	pid_t k = fork();
	if (k == 0) {
		named("nio_vsrv");
		enter(b);
		int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
		struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(47311)};
		inet_pton(AF_INET, ip, &sa.sin_addr);
		setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(l, (struct sockaddr *)&sa, sizeof(sa)) || listen(l, 1))
			die("veth listen");
		if (write(p[1], "r", 1) != 1)
			die("pipe");
		int s = accept(l, NULL, NULL);
		drain(s, 1000000);
		report("nio_vsrv");
		exit(0);
	}
	char r;
	if (read(p[0], &r, 1) != 1)
		die("veth server");
	pid_t q = fork();
	if (q == 0) {
		named("nio_vcli");
		enter(a);
		int c = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(47311)};
		inet_pton(AF_INET, ip, &sa.sin_addr);
		if (connect(c, (struct sockaddr *)&sa, sizeof(sa)))
			die("veth connect");
		send_all(c, 1000000, 0);
		report("nio_vcli");
		exit(0);
	}
	int st1, st2;
	waitpid(q, &st1, 0);
	waitpid(k, &st2, 0);
	return WIFEXITED(st1) && !WEXITSTATUS(st1) && WIFEXITED(st2) && !WEXITSTATUS(st2) ? 0 : 2;
}

int main(int argc, char **argv)
{
	alarm(30);
	memset(buf, 'n', sizeof(buf));
	if (argc == 5 && !strcmp(argv[1], "veth"))
		return veth(argv[2], argv[3], argv[4]);
	if (argc == 2 && !strcmp(argv[1], "zcrecv")) {
		named("nio_zcrecv");
		p_zcrecv();
	}
	if (argc != 2 || strcmp(argv[1], "local")) {
		fprintf(stderr, "usage: iopaths local | iopaths zcrecv | iopaths veth NSA NSB IP\n");
		return 2;
	}
	run("nio_tcp4", p_tcp4);
	run("nio_tcp6", p_tcp6);
	run("nio_udp4", p_udp4);
	run("nio_udp6", p_udp6);
	run("nio_mapped", p_mapped);
	run("nio_iov", p_iov);
	run("nio_msg", p_msg);
	run("nio_mmsg", p_mmsg);
	run("nio_peek", p_peek);
	run("nio_zerocopy", p_zerocopy);
	run("nio_sendfile", p_sendfile);
	run("nio_splice", p_splice);
	run("nio_thread", p_thread);
	run("nio_ur_send", p_ur_send);
	run("nio_ur_msg", p_ur_msg);
	run("nio_ur_zc", p_ur_zc);
	run("nio_ur_rw", p_ur_rw);
	run("nio_ur_async", p_ur_async);
	run("nio_ur_sqpoll", p_ur_sqpoll);
	run("nio_fparent", p_fork);
	run("nio_shortsrv", p_short);
	return 0;
}
