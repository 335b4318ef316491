// Package lbpolicy is the vram_aware policy's decision: given the upstreams, the latest GPU report of each, and
// the model a request names, it chooses the upstream to send the request to, and says why. It is a pure function
// of its inputs plus the herd guard's reservations: no Redis, no Caddy, no I/O, and O(n) in the candidates. It
// takes no locks and allocates nothing, except once per node, when the first reservation on a node adds the
// node's slot under a mutex (see Reservations), and for plans, once per model and per new report (see Plans).
//
// # How an upstream is chosen
//
// Only available upstreams are candidates (Caddy's health checks, circuit breaker and max_requests decide that).
// A candidate's report is fresh when it is at most StaleAfter old (default 15s) and not more than MaxSkew in the
// future. When no available candidate has a fresh report, Select returns Index -1 with the reason
// fallback:no-fresh-stats and the fallback policy decides; with no available candidate at all the reason is
// fallback:no-candidate.
//
// Otherwise every available candidate falls into a class, and the best class wins whatever the scores. Best first:
//
//	resident        the model is loaded in the node's GPU memory (size_vram > 0; a model Ollama runs on the CPU
//	                does not count). Nothing has to load, so free memory does not demote it.
//	fits            the model fits: its size + HeadroomMB ≤ free, and the node is not overwhelmed.
//	                With no model named, every node that is not overwhelmed is here (reason most-free).
//	loading         an earlier request sent the model here to load within the report interval (the herd guard's
//	                reservation says so) and no further copy fits: this request joins that load rather than
//	                evicting models elsewhere to load yet another copy.
//	memory-unknown  the node has GPUs but did not report their memory, so whether the model fits is unknown:
//	                below every known fit, above every known misfit. Nodes that report the model installed rank
//	                first; then the score, in which free memory counts as 0, so in-flight requests and
//	                utilisation decide.
//	no-stats        the upstream has no fresh report. Known-bad nodes (the classes below) rank lower.
//	overwhelmed     free < MinFreeMB (default 2 GiB), though the model would fit.
//	make-room       the model fits on no node: the one most able to make room wins, its score using room
//	                instead of free memory (see below). Select never fails because nothing fits.
//	too-small       the model is larger than all the node's GPU memory together: even after unloading
//	                everything it cannot hold the model, so it ranks below every node that can make room.
//	cpu-only        the node has no GPU: a last resort for GPU work.
//
// Two marks push a node below all the others: draining (the report asks for no new requests) ranks a node below
// every node that is not draining, and a node whose report lists its installed models without the requested one
// ranks below every node that may have it (Ollama answers 404 there). Both keep their class order among
// themselves; the reasons are draining and not-installed.
//
// Free memory is summed over all the node's GPUs (Ollama spreads a model that does not fit on one GPU over all of
// them), less the herd guard's reservations. A model's size is what the node reports for it (loaded footprint,
// else size on disk), else what any other report says (a loaded footprint first), else DefaultModelMB (4 GiB).
//
// # Score
//
// Within a class the highest score wins; exact ties are broken at random, each tied candidate equally likely.
//
//	f     = free − reserved       free GPU memory in MiB, summed over the GPUs, less reservations; 0 when unknown
//	base  = 1 + f × BoostFactor   if f > BoostFreeMB         (SOLLOL's ×1.5 above 4 GiB)
//	        1 + f                 if 0 ≤ f ≤ BoostFreeMB
//	        1 / (1 − f)           if f < 0                   (reservations promised more than the node has)
//	score = base × (1 − UtilizationPenalty × utilisation / 100) / (1 + InFlightPenalty × in_flight)
//
// in_flight is the number of requests the gateway has in flight to the upstream; utilisation is the mean GPU
// utilisation in percent (0 when unknown). The defaults are InFlightPenalty 1 and UtilizationPenalty 0.5: a
// request in flight halves a node's score, a fully busy GPU halves it too. Nodes without known GPU memory (cpu-only,
// no-stats, memory-unknown) score with f = 0, so among them in-flight requests and utilisation decide.
//
// In the make-room class f is the room the node could offer: free memory plus the GPU memory of the models Ollama
// holds (it unloads them to load another), at most the node's total, less reservations; a node that did not report
// its Ollama state counts its whole total.
//
// # Herd guard
//
// Reports are seconds old and many requests arrive in between, so without care every one of them would go to the
// same "best" node and all load the same model there. When Select sends a request to a GPU node with known memory
// that must load the model (fits, overwhelmed, make-room), it reserves the model's size on that node in
// Reservations. The reservation counts against the node's free memory until a report from the node taken after it
// arrives, which shows the load itself, or until ReserveTTL passes (default twice StaleAfter). A burst for one cold
// model therefore spreads its loads over the nodes with room; once no further copy fits anywhere, the next requests
// join the loads under way (loading) rather than evicting other models to load yet more copies. Report times are
// the node's clock, so node clocks should be synchronised to well under a report interval.
//
// # Plans
//
// Most of a decision follows from the reports alone, which change every few seconds, while requests come far more
// often. SelectCached keeps, for each model, every candidate's class and score before in-flight requests (a plan,
// see Plans), and a Ranking decides from a plan in one pass over the candidates. In-flight requests,
// availability, the clock and reservations count on every request as they do in Select, so the decisions are the
// same. A candidate on which a reservation counts is judged in full; one whose node sent a new report gets a new
// entry in the plan.
package lbpolicy
