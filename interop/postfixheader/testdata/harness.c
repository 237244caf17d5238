/*
 * Test harness for the go-requiretls differential test: reads message
 * contents from stdin and prints, for each, where Postfix 3.11's smtpd and
 * cleanup end its primary header section and the name of each header field
 * they find. It is compiled at test time next to Postfix's own
 * src/global/is_header.c, taken from the release tarball, and calls its
 * is_header_buf(); this file holds none of Postfix's code.
 *
 * Input, repeated until EOF: a decimal length, a newline, that many bytes.
 * Output, one line per input: for each field found, a space and its name in
 * hex; then a space, "=", the kind of end, a space and the body offset:
 *
 *	 <name as hex>... =<kind> <body offset>
 *
 * kind is "blank" (an empty record ends the header; the body starts after
 * it), "text" (a record that is neither a field nor a continuation ends the
 * header; the body starts with it) or "eof" (the input ends in the header).
 *
 * The model, from the Postfix 3.11 sources (read, not copied):
 *  - smtpd reads lines with smtp_get(): a record ends at LF, the CR before
 *    the LF is removed (smtpd_forbid_bare_newline detection on, as by
 *    default), and a line longer than line_length_limit (2048) is split
 *    into REC_TYPE_CONT records of that size;
 *  - smtpd turns a first line that starts with (">"*)"From " into a header
 *    field "X-Mailbox-Line: ..." and puts an empty record before a first
 *    line that starts with SP or TAB;
 *  - cleanup's MIME state machine (mime_state_update()) appends a record to
 *    the current field when the previous record was a REC_TYPE_CONT or the
 *    record starts with SP or TAB; otherwise is_header_buf() > 0 starts a
 *    new field whose name is that many bytes; any other record ends the
 *    primary header section.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

extern ssize_t is_header_buf(const char *, ssize_t);

#define LINE_LIMIT 2048

struct rec {
	const char *text;
	ssize_t len;
	int cont;		/* a REC_TYPE_CONT: the line goes on */
	size_t off;		/* offset of the record in the input */
	size_t next;		/* offset after the record and its line end */
};

/* nextrec - cut the next record of msg[*pos:n] as smtpd's smtp_get() does */
static int nextrec(const char *msg, size_t n, size_t *pos, struct rec *r)
{
	size_t	start = *pos, lim, i;

	if (start >= n)
		return 0;
	lim = n - start < LINE_LIMIT ? n : start + LINE_LIMIT;
	for (i = start; i < lim && msg[i] != '\n'; i++)
		 /* void */ ;
	r->text = msg + start;
	r->off = start;
	if (i < lim) {				/* a whole line: strip CRLF or LF */
		r->len = (ssize_t) (i - start);
		if (r->len > 0 && r->text[r->len - 1] == '\r')
			r->len--;
		r->cont = 0;
		*pos = i + 1;
	} else {				/* no LF: a long line, or the end */
		r->len = (ssize_t) (i - start);
		r->cont = i < n;
		*pos = i;
	}
	r->next = *pos;
	return 1;
}

static void hex(const char *s, ssize_t len)
{
	putchar(' ');
	if (len == 0)
		putchar('-');
	for (ssize_t i = 0; i < len; i++)
		printf("%02x", (unsigned char) s[i]);
}

static int mailbox_line(const char *s, ssize_t len)
{
	ssize_t	i = 0;

	while (i < len && s[i] == '>')
		i++;
	return len - i >= 5 && memcmp(s + i, "From ", 5) == 0;
}

static void walk(const char *msg, size_t n)
{
	size_t	pos = 0;
	struct rec r;
	int	in_field = 0, prev_cont = 0, first = 1;
	ssize_t	name_len;

	while (nextrec(msg, n, &pos, &r)) {
		if (first) {
			first = 0;
			if (mailbox_line(r.text, r.len)) {
				hex("X-Mailbox-Line", 14);
				in_field = 1;
				prev_cont = r.cont;
				continue;
			}
			if (r.len > 0 && (r.text[0] == ' ' || r.text[0] == '\t')) {
				printf(" =blank 0\n");	/* the empty record ends the header */
				return;
			}
		}
		if (in_field && (prev_cont || (r.len > 0 && (r.text[0] == ' ' || r.text[0] == '\t')))) {
			prev_cont = r.cont;
			continue;
		}
		in_field = 0;
		if ((name_len = is_header_buf(r.text, r.len)) > 0) {
			hex(r.text, name_len);
			in_field = 1;
			prev_cont = r.cont;
			continue;
		}
		if (r.len == 0 && !r.cont)
			printf(" =blank %zu\n", r.next);
		else
			printf(" =text %zu\n", r.off);
		return;
	}
	printf(" =eof %zu\n", n);
}

int main(void)
{
	size_t	n;
	char   *buf = 0;

	while (scanf("%zu", &n) == 1 && getchar() == '\n') {
		if ((buf = realloc(buf, n + 1)) == 0 || fread(buf, 1, n, stdin) != n) {
			fprintf(stderr, "harness: short input\n");
			return 1;
		}
		walk(buf, n);
	}
	fflush(stdout);
	return ferror(stdout) ? 1 : 0;
}
