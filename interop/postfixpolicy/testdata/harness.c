/*
 * harness: feeds policy strings and next hops to Postfix's own
 * smtp_reqtls_policy_parse() and smtp_reqtls_policy_eval(), after the
 * main.cf steps Postfix applies to a parameter value first (readllines()
 * line joining, split_nameval(), recursive $name expansion).
 *
 * Input, one field per line, each hex-encoded:
 *   P <policy>          a main.cf value, possibly several lines
 *   V <name> <value>    a parameter $name may refer to (any number)
 *   Q <next hop>        a query, as smtp(8) passes it (any number)
 *   E                   end of this case
 * Output per case, from a forked child so that a fatal error ends only it:
 *   W <text>            a warning Postfix logged while parsing (hex)
 *   L <text>            a warning Postfix logged while looking up (hex)
 *   F <text>            a fatal error (hex)
 *   X <text>            a main.cf error before the parser ran (hex)
 *   R <n> <n> ...       one verdict per query: 3 enforce, 2
 *                       opportunistic+starttls, 1 opportunistic, 0 disable,
 *                       -1 error
 *   D <exit status>     the case is over
 */
#include <sys_defs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include <msg.h>
#include <msg_output.h>
#include <mymalloc.h>
#include <stringops.h>
#include <vstring.h>
#include <vstream.h>
#include <readlline.h>
#include <mac_expand.h>
#include <mac_midna.h>
#include <htable.h>
#include <argv.h>

#include <smtp_reqtls_policy.h>

static void put_hex(const char *tag, const char *s)
{
    fputs(tag, stdout);
    fputc(' ', stdout);
    for (; *s; s++)
	printf("%02x", (unsigned char) *s);
    fputc('\n', stdout);
}

static int in_eval;			/* warnings now come from lookups */

static void output(int level, const char *text)
{
    put_hex(level >= MSG_ERROR ? "F" : in_eval ? "L" : "W", text);
    fflush(stdout);
    if (level >= MSG_FATAL)			/* msg_fatal() would sleep 1 s */
	_exit(1);
}

static char *unhex(const char *s, size_t *len)
{
    size_t  n = strlen(s) / 2, i;
    char   *out = mymalloc(n + 1);

    for (i = 0; i < n; i++) {
	unsigned int c;

	sscanf(s + 2 * i, "%2x", &c);
	out[i] = c;
    }
    out[n] = 0;
    if (len)
	*len = n;
    return (out);
}

static const char *lookup(const char *name, int unused_mode, void *ctx)
{
    return (htable_find((HTABLE *) ctx, name));
}

static void run_case(const char *policy, HTABLE *vars, ARGV *queries)
{
    VSTRING *text = vstring_alloc(100);
    VSTRING *line = vstring_alloc(100);
    VSTRING *expanded = vstring_alloc(100);
    VSTREAM *fp;
    char   *name, *value;
    const char *err;
    SMTP_REQTLS_POLICY *p;
    int     i;

    vstring_sprintf(text, "smtp_requiretls_policy = %s\n", policy);
    fp = vstream_memopen(text, O_RDONLY);
    if (readllines(line, fp, (int *) 0, (int *) 0) == 0) {
	put_hex("X", "no logical line");
	return;
    }
    if ((err = split_nameval(vstring_str(line), &name, &value)) != 0) {
	put_hex("X", err);
	return;
    }
    if (readllines(vstring_alloc(10), fp, (int *) 0, (int *) 0) != 0) {
	put_hex("X", "more than one logical line");
	return;
    }
    if (mac_expand(expanded, value, MAC_EXP_FLAG_RECURSE, (char *) 0, lookup, vars) & MAC_PARSE_ERROR) {
	put_hex("X", "macro processing error");
	return;
    }
    VSTRING_RESET(line);
    VSTRING_TERMINATE(line);
    p = smtp_reqtls_policy_parse("smtp_requiretls_policy", vstring_str(expanded));
    in_eval = 1;
    for (i = 0; i < queries->argc; i++)
	vstring_sprintf_append(line, " %d", smtp_reqtls_policy_eval(p, queries->argv[i]));
    printf("R%s\n", vstring_str(line));
}

int     main(int argc, char **argv)
{
    char    buf[1 << 22];
    char   *policy = 0;
    HTABLE *vars = htable_create(10);
    ARGV   *queries = argv_alloc(10);
    int     status;
    pid_t   pid;

    util_utf8_enable = 1;
    mac_midna_register();
    msg_output(output);
    while (fgets(buf, sizeof(buf), stdin) != 0) {
	char   *f1, *f2;

	buf[strcspn(buf, "\n")] = 0;
	f1 = buf + (buf[0] && buf[1] ? 2 : 1);
	switch (buf[0]) {
	case 'P':
	    policy = unhex(f1, 0);
	    break;
	case 'V':
	    f2 = strchr(f1, ' ');
	    *f2++ = 0;
	    htable_enter(vars, unhex(f1, 0), unhex(f2, 0));
	    break;
	case 'Q':
	    argv_add(queries, unhex(f1, 0), (char *) 0);
	    break;
	case 'E':
	    fflush(stdout);
	    if ((pid = fork()) < 0) {
		perror("fork");
		exit(1);
	    }
	    if (pid == 0) {
		run_case(policy, vars, queries);
		fflush(stdout);
		_exit(0);
	    }
	    waitpid(pid, &status, 0);
	    printf("D %d\n", status);
	    fflush(stdout);
	    htable_free(vars, myfree);
	    vars = htable_create(10);
	    argv_free(queries);
	    queries = argv_alloc(10);
	    break;
	default:
	    fprintf(stderr, "bad input line\n");
	    exit(1);
	}
    }
    return (0);
}
