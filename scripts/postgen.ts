// Runs after `buf generate`: nothing to rewrite today; kept so the gen pipeline has one place for
// deterministic post-processing (the freshness test runs the same `npm run gen`).
export {};
