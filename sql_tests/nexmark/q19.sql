CREATE MATERIALIZED VIEW nexmark_q19 AS
SELECT *
FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY auction ORDER BY price DESC, date_time)
                  AS rank_number
      FROM bid) AS ranked
WHERE rank_number <= 10;
