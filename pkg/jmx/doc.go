// Package jmx reads a JMeter test plan (.jmx, JMeter 2.x to 5.x) and
// translates it into a Plan rolltest can run: the HTTP requests with the
// weights in which JMeter sends them, the load's shape, and the checks.
// Everything that is not carried over exactly is listed in
// Plan.Unsupported with its path in the plan's tree; nothing is dropped
// silently except disabled elements, which JMeter does not run either.
//
// What is carried over:
//
//   - HTTP samplers, with HTTP Request Defaults filling the fields a
//     sampler leaves empty (the nearest defaults in scope first) and
//     adding their arguments, and Header Managers merged from the plan
//     down to the sampler, the nearest winning on a name. GET-like
//     arguments go into the query, url-encoded unless "URL Encode?" is
//     off; POST, PUT and PATCH arguments become a url-encoded form body,
//     and a raw body is sent as written.
//   - ${name} from User Defined Variables (all of them, read at the start
//     wherever they sit, as JMeter does) and from CSV Data Set Configs.
//     ${__P(name,default)} becomes its default, as with no -J given.
//     Other functions, and variables only a script or extractor would
//     set, are sent verbatim and noted.
//   - A CSV Data Set Config's rows: a sampler that uses its variables
//     becomes one request per row, the rows sharing the sampler's weight.
//     Sharing mode, recycle and stop-thread are approximated.
//   - Thread Groups: threads are summed into one pool (rolltest runs
//     groups at once, JMeter may serialise them); the longest ramp-up
//     and duration are kept; a request's weight is its group's threads
//     times its share of one iteration of the group.
//   - Constant Throughput Timer (per minute) and Precise Throughput Timer
//     (throughput per period) become Plan.Rate. "This thread only" is
//     multiplied by the threads of the group, "current thread group" by
//     the groups it covers: this assumes every thread keeps up, which is
//     the rate JMeter aims at, not always the one it reaches.
//   - Response Assertions on the response code (exact codes) and on the
//     body ("contains" without regular-expression characters, or
//     "substring"), and the strictest Duration Assertion, kept apart in
//     MaxDurationMs. rolltest checks every response, so an assertion
//     scoped to one sampler is noted.
//
// Controllers are flattened, their children's weights scaled so that the
// proportions stay JMeter's:
//
//   - Simple, Recording, Random Order: as they are.
//   - Transaction: as it is; its own parent sample is noted as not
//     reported.
//   - Loop: children × loops; a forever loop, which would starve what
//     follows it, at one pass with a note.
//   - Once Only: 1/loops of the enclosing loop (the thread group's or a
//     Loop Controller's), noted; left out when that loops forever.
//   - Random, Interleave: each child 1/n, which is their proportion.
//   - Switch: each child 1/n, noted, as its value is not evaluated.
//   - Throughput: × percent in percent mode; in total-executions mode at
//     full weight, noted.
//   - If, While, Runtime, Critical Section: children once per pass, noted.
//   - ForEach, Module, Include and unknown controllers: left out, noted.
package jmx
