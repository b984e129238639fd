CREATE MATERIALIZED VIEW nexmark_q5_window AS
SELECT auction, count(*) AS num, window_start AS starttime, window_end AS endtime
FROM HOP(bid, date_time, INTERVAL '2' SECOND, INTERVAL '10' SECOND)
GROUP BY auction, window_start, window_end;
