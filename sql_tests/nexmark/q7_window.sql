CREATE MATERIALIZED VIEW nexmark_q7_window AS
SELECT max(price) AS maxprice, window_start, window_end
FROM TUMBLE(bid, date_time, INTERVAL '10' SECOND)
GROUP BY window_start, window_end
EMIT ON WINDOW CLOSE;
