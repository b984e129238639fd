-- q11's batch twin: sessions by window functions (a row starts a new session when it is
-- at least the gap after the bidder's previous bid; a session ends one gap after its last)
SELECT bidder, count(*) AS bid_count, min(date_time) AS starttime,
       max(date_time) + INTERVAL '10' SECOND AS endtime
FROM (
  SELECT bidder, date_time,
         sum(starts) OVER (PARTITION BY bidder ORDER BY date_time
                           ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS session
  FROM (
    SELECT bidder, date_time,
           CASE WHEN date_time - lag(date_time) OVER (PARTITION BY bidder ORDER BY date_time)
                     < INTERVAL '10' SECOND THEN 0 ELSE 1 END AS starts
    FROM bid
  ) marked
) numbered
GROUP BY bidder, session
