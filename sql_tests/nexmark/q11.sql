CREATE MATERIALIZED VIEW nexmark_q11 AS
SELECT bidder, count(*) AS bid_count, window_start AS starttime, window_end AS endtime
FROM bid
GROUP BY bidder, SESSION(date_time, INTERVAL '10' SECOND);
