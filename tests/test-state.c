// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Pure tests of the state machine: names and parsing, and the path planner
 * checked exhaustively (8 x 8 pairs, the four capability sets) against the
 * full-path tables of kernel-contract.md 4.4, transcribed below as data,
 * and (all 8 capability combinations, extra bits) against a walk of the
 * raw one-step table of 4.2.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <check.h>

#include "vfiomig.h"

#define SC VFIOMIG_MIG_STOP_COPY
#define P2P VFIOMIG_MIG_P2P
#define PC VFIOMIG_MIG_PRE_COPY

enum { ERR = 0, STOP, RUN, S_COPY, RES, R_P2P, PCOPY, PC_P2P };

/*
 * Contract 4.4, one table per capability set.  A cell is the full path
 * written with the contract's abbreviations, "fd" when SET returns a new
 * data fd, "same" for "(same fd)", "-" for the no-op and "EINVAL".  States
 * missing from a table's header are unsupported for that set: any plan
 * from or to them is EINVAL.
 */
struct table {
	unsigned int flags;
	int nstates;
	int states[7];
	const char *cells[7][7];
};

static const struct table tables[] = {
	{ SC, 4, { RUN, STOP, S_COPY, RES }, {
	  /* RUNNING */
	  { "-", "RUN STOP", "RUN STOP S_COPY fd", "RUN STOP RES fd" },
	  /* STOP */
	  { "STOP RUN", "-", "STOP S_COPY fd", "STOP RES fd" },
	  /* STOP_COPY */
	  { "S_COPY STOP RUN", "S_COPY STOP", "-", "S_COPY STOP RES fd" },
	  /* RESUMING */
	  { "RES STOP RUN", "RES STOP", "RES STOP S_COPY fd", "-" },
	} },
	{ SC | P2P, 5, { RUN, STOP, S_COPY, RES, R_P2P }, {
	  { "-", "RUN R_P2P STOP", "RUN R_P2P STOP S_COPY fd",
	    "RUN R_P2P STOP RES fd", "RUN R_P2P" },
	  { "STOP R_P2P RUN", "-", "STOP S_COPY fd", "STOP RES fd",
	    "STOP R_P2P" },
	  { "S_COPY STOP R_P2P RUN", "S_COPY STOP", "-", "S_COPY STOP RES fd",
	    "S_COPY STOP R_P2P" },
	  { "RES STOP R_P2P RUN", "RES STOP", "RES STOP S_COPY fd", "-",
	    "RES STOP R_P2P" },
	  { "R_P2P RUN", "R_P2P STOP", "R_P2P STOP S_COPY fd",
	    "R_P2P STOP RES fd", "-" },
	} },
	{ SC | PC, 5, { RUN, STOP, S_COPY, RES, PCOPY }, {
	  { "-", "RUN STOP", "RUN STOP S_COPY fd", "RUN STOP RES fd",
	    "RUN PC fd" },
	  { "STOP RUN", "-", "STOP S_COPY fd", "STOP RES fd",
	    "STOP RUN PC fd" },
	  { "S_COPY STOP RUN", "S_COPY STOP", "-", "S_COPY STOP RES fd",
	    "EINVAL" },
	  { "RES STOP RUN", "RES STOP", "RES STOP S_COPY fd", "-",
	    "RES STOP RUN PC fd" },
	  { "PC RUN", "PC RUN STOP", "PC S_COPY same", "PC RUN STOP RES fd",
	    "-" },
	} },
	{ SC | P2P | PC, 7, { RUN, STOP, S_COPY, RES, R_P2P, PCOPY, PC_P2P }, {
	  { "-", "RUN R_P2P STOP", "RUN R_P2P STOP S_COPY fd",
	    "RUN R_P2P STOP RES fd", "RUN R_P2P", "RUN PC fd",
	    "RUN R_P2P PC_P2P fd" },
	  { "STOP R_P2P RUN", "-", "STOP S_COPY fd", "STOP RES fd",
	    "STOP R_P2P", "STOP R_P2P RUN PC fd", "STOP R_P2P PC_P2P fd" },
	  { "S_COPY STOP R_P2P RUN", "S_COPY STOP", "-", "S_COPY STOP RES fd",
	    "S_COPY STOP R_P2P", "EINVAL", "EINVAL" },
	  { "RES STOP R_P2P RUN", "RES STOP", "RES STOP S_COPY fd", "-",
	    "RES STOP R_P2P", "RES STOP R_P2P RUN PC fd",
	    "RES STOP R_P2P PC_P2P fd" },
	  { "R_P2P RUN", "R_P2P STOP", "R_P2P STOP S_COPY fd",
	    "R_P2P STOP RES fd", "-", "R_P2P RUN PC fd", "R_P2P PC_P2P fd" },
	  { "PC RUN", "PC RUN R_P2P STOP", "PC PC_P2P S_COPY same",
	    "PC RUN R_P2P STOP RES fd", "PC RUN R_P2P", "-", "PC PC_P2P" },
	  { "PC_P2P R_P2P RUN", "PC_P2P R_P2P STOP", "PC_P2P S_COPY same",
	    "PC_P2P R_P2P STOP RES fd", "PC_P2P R_P2P", "PC_P2P PC", "-" },
	} },
};

static int abbrev(const char *w)
{
	static const struct { const char *a; int s; } map[] = {
		{ "RUN", RUN }, { "STOP", STOP }, { "S_COPY", S_COPY },
		{ "RES", RES }, { "R_P2P", R_P2P }, { "PC", PCOPY },
		{ "PC_P2P", PC_P2P },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcmp(map[i].a, w))
			return map[i].s;
	return -1;
}

/* Parse a cell: states into st[] (including the start), *fd = 1 for
 * "fd", 0 for "same"/none; returns the number of states, 0 for "-", -1
 * for EINVAL. */
static int parse_cell(const char *cell, int st[8], int *fd)
{
	char buf[128], *save = NULL, *w;
	int n = 0;

	*fd = 0;
	if (!strcmp(cell, "-"))
		return 0;
	if (!strcmp(cell, "EINVAL"))
		return -1;
	snprintf(buf, sizeof(buf), "%s", cell);
	for (w = strtok_r(buf, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
		if (!strcmp(w, "fd")) {
			*fd = 1;
		} else if (strcmp(w, "same")) {
			int s = abbrev(w);

			ck_assert_msg(s >= 0, "bad abbreviation %s", w);
			st[n++] = s;
		}
	}
	return n;
}

static int table_index(const struct table *t, int s)
{
	for (int i = 0; i < t->nstates; i++)
		if (t->states[i] == s)
			return i;
	return -1;
}

START_TEST(plan_matches_contract_tables)
{
	const struct table *t = &tables[_i];
	int checked = 0;

	for (int cur = 0; cur < VFIOMIG_STATE_NR; cur++) {
		for (int to = 0; to < VFIOMIG_STATE_NR; to++) {
			int ci = table_index(t, cur), ti = table_index(t, to);
			int path[VFIOMIG_STATE_NR], st[8], fd, n, want;

			n = vfiomig_state_plan(cur, to, t->flags, path,
					       VFIOMIG_STATE_NR);
			if (ci < 0 || ti < 0) {
				ck_assert_msg(n == -EINVAL,
					      "flags %#x %s->%s: %d, want EINVAL",
					      t->flags, vfiomig_state_name(cur),
					      vfiomig_state_name(to), n);
				checked++;
				continue;
			}
			want = parse_cell(t->cells[ci][ti], st, &fd);
			if (want < 0) {
				ck_assert_int_eq(n, -EINVAL);
				checked++;
				continue;
			}
			if (want == 0) {
				ck_assert_int_eq(cur, to);
				ck_assert_int_eq(n, 0);
				checked++;
				continue;
			}
			ck_assert_int_eq(st[0], cur);
			ck_assert_int_eq(st[want - 1], to);
			ck_assert_msg(n == want - 1,
				      "flags %#x %s->%s: %d arcs, want %d",
				      t->flags, vfiomig_state_name(cur),
				      vfiomig_state_name(to), n, want - 1);
			for (int i = 0; i < n; i++)
				ck_assert_msg(path[i] == st[i + 1],
					      "flags %#x %s->%s: step %d is %s, want %s",
					      t->flags, vfiomig_state_name(cur),
					      vfiomig_state_name(to), i,
					      vfiomig_state_name(path[i]),
					      vfiomig_state_name(st[i + 1]));
			/* fd only on the last arc, and only when marked. */
			for (int i = 0; i < n; i++) {
				int from = i ? path[i - 1] : cur;
				bool opens = vfiomig_arc_opens_session(from, path[i]);

				ck_assert_int_eq(opens, i == n - 1 && fd);
			}
			checked++;
		}
	}
	ck_assert_int_eq(checked, 64);
}
END_TEST

/* Contract 4.2: raw one-step table vfio_from_fsm_table[cur][new]. */
static const int raw[8][8] = {
	/* columns: ERR STOP RUN S_COPY RES R_P2P PC PC_P2P (state numbers) */
	[ERR] = { ERR, ERR, ERR, ERR, ERR, ERR, ERR, ERR },
	[STOP] = { ERR, STOP, R_P2P, S_COPY, RES, R_P2P, R_P2P, R_P2P },
	[RUN] = { ERR, R_P2P, RUN, R_P2P, R_P2P, R_P2P, PCOPY, R_P2P },
	[S_COPY] = { ERR, STOP, STOP, S_COPY, STOP, STOP, ERR, ERR },
	[RES] = { ERR, STOP, STOP, STOP, RES, STOP, STOP, STOP },
	[R_P2P] = { ERR, STOP, RUN, STOP, STOP, R_P2P, RUN, PC_P2P },
	[PCOPY] = { ERR, RUN, RUN, PC_P2P, RUN, RUN, PCOPY, PC_P2P },
	[PC_P2P] = { ERR, R_P2P, R_P2P, S_COPY, R_P2P, R_P2P, PCOPY, PC_P2P },
};

static unsigned int need(int s)
{
	switch (s) {
	case STOP: case RUN: case S_COPY: case RES: return SC;
	case R_P2P: return SC | P2P;
	case PCOPY: return SC | PC;
	case PC_P2P: return SC | P2P | PC;
	default: return ~0u;
	}
}

static bool sup(int s, unsigned long long flags)
{
	return (need(s) & flags) == need(s);
}

/* The driver loop of mtty_set_state() over vfio_mig_get_next_state(). */
static int raw_walk(int cur, int to, unsigned long long flags, int *path)
{
	int n = 0;

	if (!sup(cur, flags) || !sup(to, flags))
		return -EINVAL;
	while (cur != to) {
		int next = raw[cur][to];

		while (next != ERR && !sup(next, flags))
			next = raw[next][to];
		if (next == ERR)
			return -EINVAL;
		path[n++] = next;
		cur = next;
		ck_assert_int_lt(n, 8);
	}
	return n;
}

START_TEST(plan_matches_raw_table_walk)
{
	/* All 8 combinations of the three bits, plus unknown high bits. */
	unsigned long long flags = (unsigned long long)(_i & 7) |
				   (_i & 8 ? 0xfff8ull | (1ull << 63) : 0);

	for (int cur = -1; cur <= VFIOMIG_STATE_NR; cur++) {
		for (int to = -1; to <= VFIOMIG_STATE_NR; to++) {
			int a[8], b[8], na, nb = -EINVAL;

			na = vfiomig_state_plan(cur, to, flags, a, 8);
			if (cur >= 0 && cur < 8 && to >= 0 && to < 8)
				nb = raw_walk(cur, to, flags, b);
			ck_assert_msg(na == nb, "flags %#llx %d->%d: %d, want %d",
				      flags, cur, to, na, nb);
			for (int i = 0; i < na; i++)
				ck_assert_int_eq(a[i], b[i]);
		}
	}
}
END_TEST

START_TEST(plan_buffer)
{
	int path[8];

	/* Count only. */
	ck_assert_int_eq(vfiomig_state_plan(RES, PCOPY, SC | P2P | PC, NULL, 0), 4);
	ck_assert_int_eq(vfiomig_state_plan(RES, PCOPY, SC | P2P | PC, path, 3),
			 -ENOSPC);
	ck_assert_int_eq(vfiomig_state_plan(RES, PCOPY, SC | P2P | PC, path, 4), 4);
	ck_assert_int_eq(path[3], PCOPY);
	ck_assert_int_eq(vfiomig_state_plan(RUN, RUN, SC, path, 0), 0);
	/* The longest path of every set fits VFIOMIG_STATE_NR. */
	for (int f = 0; f < 8; f++)
		for (int c = 0; c < 8; c++)
			for (int t = 0; t < 8; t++)
				ck_assert_int_le(vfiomig_state_plan(c, t, f, NULL, 0), 4);
	/* No STOP_COPY: nothing is supported. */
	ck_assert_int_eq(vfiomig_state_plan(RUN, STOP, P2P | PC, path, 8), -EINVAL);
	ck_assert_int_eq(vfiomig_state_plan(ERR, RUN, SC | P2P | PC, path, 8), -EINVAL);
	ck_assert_int_eq(vfiomig_state_plan(RUN, ERR, SC | P2P | PC, path, 8), -EINVAL);
	ck_assert_int_eq(vfiomig_state_plan(RUN, 8, SC | P2P | PC, path, 8), -EINVAL);
	ck_assert_int_eq(vfiomig_state_plan(-1, RUN, SC | P2P | PC, path, 8), -EINVAL);
}
END_TEST

START_TEST(arcs)
{
	int opens = 0;

	for (int a = -2; a < 10; a++)
		for (int b = -2; b < 10; b++)
			opens += vfiomig_arc_opens_session(a, b);
	ck_assert_int_eq(opens, 4);
	ck_assert(vfiomig_arc_opens_session(RUN, PCOPY));
	ck_assert(vfiomig_arc_opens_session(R_P2P, PC_P2P));
	ck_assert(vfiomig_arc_opens_session(STOP, S_COPY));
	ck_assert(vfiomig_arc_opens_session(STOP, RES));
	ck_assert(!vfiomig_arc_opens_session(PC_P2P, S_COPY));
	ck_assert(!vfiomig_arc_opens_session(PCOPY, S_COPY));
}
END_TEST

START_TEST(names)
{
	static const char *const want[] = {
		"error", "stop", "running", "stop-copy", "resuming",
		"running-p2p", "pre-copy", "pre-copy-p2p",
	};

	for (int s = 0; s < VFIOMIG_STATE_NR; s++) {
		char up[32];
		size_t i;

		ck_assert_str_eq(vfiomig_state_name(s), want[s]);
		ck_assert_int_eq(vfiomig_state_parse(want[s]), s);
		for (i = 0; want[s][i]; i++)
			up[i] = want[s][i] == '-' ? '_' : (char)toupper(want[s][i]);
		up[i] = '\0';
		ck_assert_int_eq(vfiomig_state_parse(up), s);
	}
	ck_assert_ptr_null(vfiomig_state_name(-1));
	ck_assert_ptr_null(vfiomig_state_name(VFIOMIG_STATE_NR));
	ck_assert_int_eq(vfiomig_state_parse("Stop_Copy"), S_COPY);
	ck_assert_int_eq(vfiomig_state_parse(NULL), -EINVAL);
	ck_assert_int_eq(vfiomig_state_parse(""), -EINVAL);
	ck_assert_int_eq(vfiomig_state_parse("stop-"), -EINVAL);
	ck_assert_int_eq(vfiomig_state_parse("sto"), -EINVAL);
	ck_assert_int_eq(vfiomig_state_parse("stopcopy"), -EINVAL);
	ck_assert_int_eq(vfiomig_state_parse("running "), -EINVAL);
	ck_assert_int_eq(vfiomig_state_parse("1"), -EINVAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("state");
	TCase *tc = tcase_create("plan");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, plan_matches_contract_tables, 0,
			    sizeof(tables) / sizeof(tables[0]));
	tcase_add_loop_test(tc, plan_matches_raw_table_walk, 0, 16);
	tcase_add_test(tc, plan_buffer);
	tcase_add_test(tc, arcs);
	suite_add_tcase(s, tc);
	tc = tcase_create("names");
	tcase_add_test(tc, names);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
