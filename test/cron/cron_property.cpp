// cron_property.cpp
//     Property test for taskmill.cron_next: thousands of random cron expressions, instants
//     and time zones, each answer checked against a brute-force oracle that walks real
//     minutes one by one with the C library's own time-zone code (localtime_r over the
//     system tzdata), sharing no code with the extension.
//
//     The generator builds each expression from explicit value sets and writes it out as
//     text (numbers, names, ranges, steps, lists, macros); the oracle matches against those
//     sets, so the extension's parser is checked too.
//
//     Oracle semantics (docs/schedules.md): walking UTC minutes in order, a minute t fires
//     when its wall-clock minute is later than every wall minute seen before (so the
//     repeated hour after clocks go back fires nothing) and some matching wall minute lies
//     in (previous highest wall minute, wall(t)] (so the minutes skipped when clocks go
//     forward fire once, at the jump).
//
//     usage: cron_property [cases] [seed]   (libpq environment variables select the server)
#include <libpq-fe.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace {

struct Field {
	uint64_t bits = 0;  // allowed values
	bool star = false;  // text begins with '*'
};

struct Expr {
	std::string text;
	Field f[5];  // minute, hour, day of month, month, day of week (bit 7 folded into 0)
};

const int kLow[5] = {0, 0, 1, 1, 0};
const int kHigh[5] = {59, 23, 31, 12, 7};
const char* kMonths[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"};
const char* kDays[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

std::mt19937_64 rng;

int uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); }

std::string value_text(int field, int v) {
	// names for months and days of week, in random case, some of the time
	if (field == 3 && uniform(0, 3) == 0) {
		std::string s = kMonths[v - 1];
		if (uniform(0, 1)) s[0] = static_cast<char>(s[0] - 'a' + 'A');
		return s;
	}
	if (field == 4 && v <= 6 && uniform(0, 3) == 0) {
		std::string s = kDays[v];
		if (uniform(0, 2) == 0)
			for (auto& c : s) c = static_cast<char>(c - 'a' + 'A');
		return s;
	}
	return std::to_string(v);
}

// A value biased, for hours, toward the small hours in which clocks change.
int pick_value(int field) {
	if (field == 1 && uniform(0, 1) == 0) return uniform(0, 3);
	return uniform(kLow[field], kHigh[field]);
}

void set_range(Field& fd, int lo, int hi, int step) {
	for (int v = lo; v <= hi; v += step) fd.bits |= uint64_t{1} << v;
}

// One random element; returns its text and adds its values to fd.
std::string element(int field, Field& fd, bool allow_star) {
	int kind = uniform(allow_star ? 0 : 2, 5);
	int lo = kLow[field], hi = kHigh[field];
	switch (kind) {
		case 0:
			set_range(fd, lo, hi, 1);
			return "*";
		case 1: {
			int step = uniform(1, field == 0 ? 30 : field == 1 ? 12 : 8);
			set_range(fd, lo, hi, step);
			return "*/" + std::to_string(step);
		}
		case 2:
		case 3: {
			int v = pick_value(field);
			set_range(fd, v, v, 1);
			return value_text(field, v);
		}
		case 4: {
			int a = pick_value(field), b = pick_value(field);
			if (a > b) std::swap(a, b);
			set_range(fd, a, b, 1);
			return value_text(field, a) + "-" + value_text(field, b);
		}
		default: {
			int a = pick_value(field), b = pick_value(field);
			if (a > b) std::swap(a, b);
			int step = uniform(1, 10);
			set_range(fd, a, b, step);
			return value_text(field, a) + "-" + value_text(field, b) + "/" + std::to_string(step);
		}
	}
}

Expr random_expr() {
	Expr e;
	int m = uniform(0, 39);
	struct Macro {
		const char* name;
		const char* expansion;
	};
	static const Macro macros[] = {{"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"},
								   {"@monthly", "0 0 1 * *"}, {"@weekly", "0 0 * * 0"},
								   {"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"},
								   {"@hourly", "0 * * * *"}};
	if (m < 7) {
		// macros: build the sets from the documented expansion by hand
		std::string x = macros[m].expansion;
		e.text = macros[m].name;
		if (uniform(0, 1)) e.text[1] = static_cast<char>(e.text[1] - 'a' + 'A');
		const char* p = x.c_str();
		for (int fi = 0; fi < 5; fi++) {
			while (*p == ' ') p++;
			if (*p == '*') {
				set_range(e.f[fi], kLow[fi], kHigh[fi], 1);
				e.f[fi].star = true;
				p++;
			} else {
				int v = std::atoi(p);
				set_range(e.f[fi], v, v, 1);
				while (*p && *p != ' ') p++;
			}
		}
	} else {
		// how often each field is left open ('*'): days and months mostly open so that most
		// expressions fire within the oracle's horizon
		const int open_pct[5] = {25, 35, 75, 85, 70};
		for (int fi = 0; fi < 5; fi++) {
			std::string t;
			if (uniform(0, 99) < open_pct[fi]) {
				t = element(fi, e.f[fi], true);
				if (t[0] != '*') {
					e.f[fi] = Field();
					set_range(e.f[fi], kLow[fi], kHigh[fi], 1);
					t = "*";
				}
			} else {
				int n = uniform(0, 3) == 0 ? uniform(2, 3) : 1;
				for (int k = 0; k < n; k++) {
					if (k) t += ",";
					t += element(fi, e.f[fi], k == 0);
				}
			}
			e.f[fi].star = (t[0] == '*');
			if (!e.text.empty()) e.text += uniform(0, 9) == 0 ? "\t" : " ";
			e.text += t;
		}
	}
	// 7 is Sunday too
	if (e.f[4].bits & (uint64_t{1} << 7)) e.f[4].bits |= 1;
	return e;
}

bool matches(const Expr& e, const struct tm& tm) {
	auto has = [](const Field& f, int v) { return (f.bits >> v) & 1; };
	if (!has(e.f[0], tm.tm_min) || !has(e.f[1], tm.tm_hour) || !has(e.f[3], tm.tm_mon + 1))
		return false;
	bool dom = has(e.f[2], tm.tm_mday), dow = has(e.f[4], tm.tm_wday);
	return (e.f[2].star || e.f[4].star) ? (dom && dow) : (dom || dow);
}

int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// Wall-clock minute (minutes since 1970-01-01 00:00 local) of instant t in the current TZ.
int64_t wall_minute(int64_t t) {
	time_t tt = static_cast<time_t>(t);
	struct tm tm;
	localtime_r(&tt, &tm);
	return floor_div(t + tm.tm_gmtoff, 60);
}

bool wall_matches(const Expr& e, int64_t wall_min) {
	time_t tt = static_cast<time_t>(wall_min * 60);
	struct tm tm;
	gmtime_r(&tt, &tm);
	return matches(e, tm);
}

// The oracle: first firing instant (Unix seconds) strictly after `after`, or -1 if none
// within horizon_min minutes.
int64_t oracle_next(const Expr& e, int64_t after, int horizon_min) {
	int64_t t = floor_div(after, 60) * 60 - 6 * 3600;
	int64_t high = wall_minute(t) - 1;
	int64_t end = after + int64_t{horizon_min} * 60;
	for (; t <= end; t += 60) {
		int64_t w = wall_minute(t);
		if (w <= high) continue;  // a wall minute seen before: the repeated hour
		bool fire = false;
		for (int64_t x = high + 1; x <= w && !fire; x++) fire = wall_matches(e, x);
		high = w;
		if (fire && t > after) return t;
	}
	return -1;
}

void use_zone(const std::string& zone) {
	setenv("TZ", zone.c_str(), 1);
	tzset();
}

// Instants at which the current zone's UTC offset changes in [from, to).
std::vector<int64_t> transitions(int64_t from, int64_t to) {
	std::vector<int64_t> out;
	auto off = [](int64_t t) {
		time_t tt = static_cast<time_t>(t);
		struct tm tm;
		localtime_r(&tt, &tm);
		return tm.tm_gmtoff;
	};
	for (int64_t d = from; d < to; d += 86400) {
		if (off(d) == off(d + 86400)) continue;
		int64_t lo = d, hi = d + 86400;  // off(lo) != off(hi): find the change
		while (hi - lo > 60) {
			int64_t mid = lo + (hi - lo) / 2;
			(off(mid) == off(lo) ? lo : hi) = mid;
		}
		out.push_back(hi - hi % 60);
	}
	return out;
}

struct PGconnDeleter {
	void operator()(PGconn* c) const { PQfinish(c); }
};
struct PGresultDeleter {
	void operator()(PGresult* r) const { PQclear(r); }
};

}  // namespace

int main(int argc, char** argv) {
	int cases = argc > 1 ? std::atoi(argv[1]) : 4000;
	uint64_t seed = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 20261125;
	const int horizon = 8 * 24 * 60;  // oracle walks at most 8 days of minutes
	rng.seed(seed);

	std::unique_ptr<PGconn, PGconnDeleter> conn(PQconnectdb(""));
	if (PQstatus(conn.get()) != CONNECTION_OK) {
		std::fprintf(stderr, "connection failed: %s", PQerrorMessage(conn.get()));
		return 2;
	}

	const std::vector<std::string> zones = {
		"UTC", "America/New_York", "Europe/London", "Europe/Berlin", "Australia/Sydney",
		"Australia/Lord_Howe", "Asia/Kolkata", "America/St_Johns", "Pacific/Chatham",
		"America/Santiago", "America/Sao_Paulo", "Asia/Tehran"};
	const int64_t from = 788918400;   // 1995-01-01
	const int64_t to = 2208988800;    // 2040-01-01
	std::map<std::string, std::vector<int64_t>> trans;
	for (const auto& z : zones) {
		use_zone(z);
		trans[z] = transitions(from, to);
	}

	long exact = 0, beyond = 0, near_change = 0, mismatches = 0;
	std::map<std::string, int> per_zone;
	for (int i = 0; i < cases; i++) {
		Expr e = random_expr();
		const std::string& zone = zones[uniform(0, static_cast<int>(zones.size()) - 1)];
		const auto& tz_trans = trans[zone];
		int64_t after;
		if (!tz_trans.empty() && uniform(0, 9) < 4) {
			// near a clock change: within 6 hours either side, on or off a minute boundary
			int64_t c = tz_trans[uniform(0, static_cast<int>(tz_trans.size()) - 1)];
			after = c + uniform(-6 * 60, 6 * 60) * 60 + (uniform(0, 1) ? 0 : uniform(0, 59));
			near_change++;
		} else {
			after = std::uniform_int_distribution<int64_t>(from, to)(rng);
		}

		std::string after_s = std::to_string(after);
		const char* params[3] = {e.text.c_str(), after_s.c_str(), zone.c_str()};
		std::unique_ptr<PGresult, PGresultDeleter> res(PQexecParams(
			conn.get(),
			"SELECT extract(epoch FROM taskmill.cron_next($1, to_timestamp($2::bigint), $3))::bigint",
			3, nullptr, params, nullptr, nullptr, 0));
		if (PQresultStatus(res.get()) != PGRES_TUPLES_OK) {
			std::fprintf(stderr, "MISMATCH expr=\"%s\" zone=%s after=%lld: server error %s", e.text.c_str(),
						 zone.c_str(), static_cast<long long>(after), PQresultErrorMessage(res.get()));
			mismatches++;
			continue;
		}
		bool null = PQgetisnull(res.get(), 0, 0);
		int64_t got = null ? -1 : std::strtoll(PQgetvalue(res.get(), 0, 0), nullptr, 10);

		use_zone(zone);
		int64_t want = oracle_next(e, after, horizon);
		bool ok;
		if (want >= 0) {
			ok = (got == want);
			exact += ok;
		} else {
			// nothing within the horizon: the extension must agree (later, or never)
			ok = null || got > after + int64_t{horizon} * 60;
			beyond += ok;
		}
		per_zone[zone]++;
		if (!ok) {
			mismatches++;
			if (mismatches <= 20)
				std::fprintf(stderr, "MISMATCH expr=\"%s\" zone=%s after=%lld: cron_next=%lld oracle=%lld\n",
							 e.text.c_str(), zone.c_str(), static_cast<long long>(after),
							 static_cast<long long>(got), static_cast<long long>(want));
		}
	}
	std::printf("cron property test (seed %llu): %d cases (random expression, instant and zone) over %zu zones,"
				" %ld near a clock change\n",
				static_cast<unsigned long long>(seed), cases, zones.size(), near_change);
	std::printf("  %ld equal to the oracle's exact answer, %ld agreeing there is no run within %d days\n", exact,
				beyond, horizon / 1440);
	std::printf("  mismatches: %ld\n", mismatches);
	return mismatches == 0 ? 0 : 1;
}
