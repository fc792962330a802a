// jitctl's rendering of control-API answers (docs/CONTROL_API.md) for a
// terminal: tables, field lists and reading answers that may not have the
// expected shape (a blank cell, never a crash). Used by jitctl and its tests.
#pragma once

#include <boost/json.hpp>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "jitgate/text.hpp"

namespace jitgate::cli {

namespace json = boost::json;

// Text other people typed (names, justifications, audit details), made safe
// for a terminal: printable() whole, not cut (invalid UTF-8, control
// characters and bidi overrides become \xNN).
std::string shown(std::string_view s);

// --- Reading an answer: every access checks the kind first.
const json::value* member(const json::value& v, std::string_view key);
// A scalar as text (booleans as yes/no, arrays comma-joined); "" when absent.
std::string text(const json::value* v);
std::string text(const json::value& v, std::string_view key);
// An array, or an empty one.
const json::array& items(const json::value* v);
const json::array& items(const json::value& v, std::string_view key);
bool isTrue(const json::value& v, std::string_view key);
std::string stateLabel(const std::string& state);

// --- Output.
using Row = std::vector<std::string>;
using Fields = std::vector<std::pair<std::string, std::string>>;

// Columns two spaces apart, each as wide as its widest cell; an empty cell
// shows "-" so that every row has as many words as columns (for awk). The
// last column is not padded: it holds the long text (detail, justification).
void printTable(std::ostream& out, const Row& headers, const std::vector<Row>& rows);
// "key:  value" lines with the values aligned, for one object.
void printFields(std::ostream& out, const Fields& fields);

// --- One rendering per answer; each returns jitctl's exit status (0).
int renderTargets(std::ostream& out, const json::value& v);
int renderTarget(std::ostream& out, const json::value& t);
int renderPolicy(std::ostream& out, const json::value& p);
int renderPolicies(std::ostream& out, const json::value& v);
int renderGrants(std::ostream& out, const json::value& v);
int renderSessions(std::ostream& out, const json::value& v);
int renderNodes(std::ostream& out, const json::value& v);
int renderRecordings(std::ostream& out, const json::value& v);
int renderScreenHits(std::ostream& out, const json::value& v);
int renderRequests(std::ostream& out, const json::value& v);
// A request after approve or deny: one line on what happened.
int renderDecided(std::ostream& out, const json::value& r);
int renderUsers(std::ostream& out, const json::value& v);
int renderAudit(std::ostream& out, const json::value& v);
int renderStatus(std::ostream& out, const json::value& s);
int renderWhoami(std::ostream& out, const json::value& w);

}  // namespace jitgate::cli
