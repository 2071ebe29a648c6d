"""Golden answers of the A/B test KPI (docs/kpis.md, "Experiments"), worked by hand.

Dataset: ``tests/golden/experiments/web_traffic/`` (30 events, event ids x001..x030),
built with the example project's ``experiments/one_page_checkout.yml`` (variants
control and one_page, minimum detectable effect 0.10 relative) and
``home_banner.yml``. Sessions (id, device, what happens; E = one_page_checkout):

2025-03-03
  c1 Desktop  E control: View /, View payment, Click buy            -> converted
  c2 Desktop  E control: View /, View confirmation                  -> converted
  c3 Desktop  View confirmation (no experiment), then View / E control 30 s later:
              exposed after it converted                            -> not converted
  c4 Mobile   E control: View /                                     -> no
  c5 Mobile   E control: View /, View /cart                         -> no
  c7 Mobile   E control: View /; 31 min later View confirmation without experiment:
              a new session (not exposed); the exposed one          -> no
  t1 Desktop  E one_page: View /, View confirmation                 -> converted
  t2 Desktop  E one_page: View payment, Click buy                   -> converted
  t3 Mobile   View / (none), View / E one_page, View confirmation (none):
              exposed at its 2nd event, converted after it          -> converted
  t4 Mobile   E one_page: View /                                    -> no
  x1 Desktop  E control, then E one_page twice: two variants        -> excluded (counted)
  n1 Desktop  experiment without a variant, then Click buy          -> not exposed
  h1 Tablet   home_banner grid: View /, Click buy                   -> converted
2025-03-04
  c6 Desktop  E control: View /, View confirmation                  -> converted
  t5 Mobile   E one_page: View /                                    -> no

Statistics (docs/kpis.md), z = 1.959964 (z^2 = 3.841459), z_power = 0.841621:
- Wilson(x, n): centre = (p + z^2/2n) / (1 + z^2/n), half = z/(1 + z^2/n) * sqrt(p(1-p)/n + z^2/4n^2)
- Newcombe: low = d - sqrt((p - l1)^2 + (u2 - pc)^2), high = d + sqrt((u1 - p)^2 + (pc - l2)^2)
- z-test: P = (x + xc)/(n + nc), z = d / sqrt(P(1-P)(1/n + 1/nc)), p_value = 2(1 - Phi(|z|))
- required_sessions = ceil((1.959964 sqrt(2 Pbar(1-Pbar)) + 0.841621 sqrt(p1 q1 + p2 q2))^2 / (p2-p1)^2),
  p1 = control's rate, p2 = p1 * 1.10, Pbar = (p1 + p2)/2; none when p2 > 1 or p1 = p2.
A group without a control (home_banner on its own here) has no statistics.
"""

# fmt: off
EXPERIMENTS = [
    # by day, always by experiment and variant; x1 (excluded) is counted on its group's rows.
    # 03-03 one_page_checkout: control c1 c2 of c1 c2 c3 c4 c5 c7 = 2/6 = 0.333333 ;
    #   one_page t1 t2 t3 of t1..t4 = 3/4 = 0.75 ; lift = (0.75 - 0.333333)/0.333333 = 1.25
    #   Wilson 3/4 = (0.300642, 0.954413), Wilson 2/6 = (0.096771, 0.700007), d = 0.416667
    #   low = d - sqrt((p - l1)^2 + (u2 - pc)^2) = 0.416667 - sqrt(0.449358^2 + 0.366674^2)
    #       = 0.416667 - 0.579976 = -0.163309 ; high = 0.416667 + sqrt(0.204413^2 + 0.236562^2)
    #       = 0.416667 + 0.312643 = 0.729310
    #   P = 5/10 = 0.5, z = 0.416667 / sqrt(0.25 (1/4 + 1/6)) = 0.416667/0.322749 = 1.290994,
    #   p_value = 2 (1 - 0.901647) = 0.196706
    #   required: p1 = 0.333333, p2 = 0.366667, Pbar = 0.35: (1.959964 * 0.674537
    #   + 0.841621 * 0.674125)^2 / 0.033333^2 = 1.889425^2 / 0.001111 = 3212.9 -> 3213
    # 03-03 home_banner grid h1 1/1, no control: no statistics
    # 03-04: control c6 1/1 = 1.0 ; one_page t5 0/1 = 0.0 ; lift = (0 - 1)/1 = -1.0
    #   Wilson 0/1 = (0, 0.793451), Wilson 1/1 = (0.206549, 1): low = -1 - sqrt(0 + 0) = -1.0,
    #   high = -1 + sqrt(0.793451^2 + 0.793451^2) = -1 + 1.122109 = 0.122109
    #   P = 0.5, z = -1 / sqrt(0.25 * 2) = -1.414214, p_value = 2 (1 - 0.921350) = 0.157299
    #   required: p2 = 1.1 > 1 -> none
    {"kpi": "experiment_conversion", "grain": "day", "by": [], "from": "2025-03-03", "to": "2025-03-04",
     "rows": [
         {"period": "2025-03-03", "experiment": "home_banner", "variant": "grid", "value": 1.0,
          "sessions": 1, "conversions": 1, "excluded_sessions": 0, "lift": None, "ci_low": None,
          "ci_high": None, "p_value": None, "required_sessions": None},
         {"period": "2025-03-03", "experiment": "one_page_checkout", "variant": "control",
          "value": 0.333333, "sessions": 6, "conversions": 2, "excluded_sessions": 1, "lift": None,
          "ci_low": None, "ci_high": None, "p_value": None, "required_sessions": 3213},
         {"period": "2025-03-03", "experiment": "one_page_checkout", "variant": "one_page",
          "value": 0.75, "sessions": 4, "conversions": 3, "excluded_sessions": 1, "lift": 1.25,
          "ci_low": -0.163309, "ci_high": 0.72931, "p_value": 0.196706, "required_sessions": 3213},
         {"period": "2025-03-04", "experiment": "one_page_checkout", "variant": "control",
          "value": 1.0, "sessions": 1, "conversions": 1, "excluded_sessions": 0, "lift": None,
          "ci_low": None, "ci_high": None, "p_value": None, "required_sessions": None},
         {"period": "2025-03-04", "experiment": "one_page_checkout", "variant": "one_page",
          "value": 0.0, "sessions": 1, "conversions": 0, "excluded_sessions": 0, "lift": -1.0,
          "ci_low": -1.0, "ci_high": 0.122109, "p_value": 0.157299, "required_sessions": None},
     ]},
]

# `weir kpi experiment one_page_checkout`: the whole run (03-03..03-04) summed per variant
# control = c1 c2 c6 of c1..c5 c7 c6 = 3/7 = 0.428571 ; one_page = t1 t2 t3 of t1..t5 = 3/5 = 0.6
# lift = (0.6 - 0.428571)/0.428571 = 0.4 ; d = 0.171429
# Wilson 3/5: centre = (0.6 + 0.384146)/1.768292 = 0.556551, half = 1.108392 * sqrt(0.048 + 0.038415)
#   = 0.325826 -> (0.230724, 0.882379) ; Wilson 3/7: centre = 0.702961/1.548780 = 0.453874,
#   half = 1.265487 * sqrt(0.034985 + 0.019599) = 0.295654 -> (0.158220, 0.749542)
# low = 0.171429 - sqrt(0.369276^2 + 0.320971^2) = 0.171429 - 0.489272 = -0.317843
# high = 0.171429 + sqrt(0.282379^2 + 0.270351^2) = 0.171429 + 0.390932 = 0.562361
# P = 6/12 = 0.5, z = 0.171429 / sqrt(0.25 (1/5 + 1/7)) = 0.171429/0.292770 = 0.585540,
#   p_value = 2 (1 - 0.720907) = 0.558185
# required: p1 = 0.428571, p2 = 0.471429, Pbar = 0.45: (1.959964 * 0.703562 + 0.841621 * 0.702910)^2
#   / 0.042857^2 = 1.970541^2 / 0.00183673 = 3.883031 / 0.00183673 = 2114.1 -> 2115
REPORT = {"period": "2025-03-03", "experiment": "one_page_checkout", "rows": [
    {"variant": "control", "value": 0.428571, "sessions": 7, "conversions": 3, "excluded_sessions": 1,
     "lift": None, "ci_low": None, "ci_high": None, "p_value": None, "required_sessions": 2115},
    {"variant": "one_page", "value": 0.6, "sessions": 5, "conversions": 3, "excluded_sessions": 1,
     "lift": 0.4, "ci_low": -0.317843, "ci_high": 0.562361, "p_value": 0.558185,
     "required_sessions": 2115},
]}

# by device_type: Desktop control c1 c2 c6 of c1 c2 c3 c6 = 3/4 ; one_page t1 t2 = 2/2 ; x1 excluded
#   lift = (1 - 0.75)/0.75 = 0.333333 ; Newcombe(2/2 - 3/4) = (-0.438657, 0.699358) ;
#   P = 5/6, z = 0.25 / sqrt(0.138889 (1/2 + 1/4)) = 0.25/0.322749 = 0.774597, p = 0.438578
#   required: p1 = 0.75, p2 = 0.825, Pbar = 0.7875: (1.959964 * 0.578522 + 0.841621 * 0.576086)^2
#   / 0.075^2 = 1.618728^2 / 0.005625 = 465.8 -> 466
# Mobile control c4 c5 c7 = 0/3 ; one_page t3 of t3 t4 t5 = 1/3 ; lift none (control's rate is 0)
#   Newcombe(1/3 - 0/3) = (-0.290507, 0.792340) ; P = 1/6, z = 0.333333 / sqrt(0.138889 * 2/3)
#   = 1.095445, p = 0.273322 ; required: p2 = 0 * 1.1 = p1 -> none
REPORT_BY_DEVICE = {"period": "2025-03-03", "experiment": "one_page_checkout", "rows": [
    {"variant": "control", "device_type": "Desktop", "value": 0.75, "sessions": 4, "conversions": 3,
     "excluded_sessions": 1, "lift": None, "required_sessions": 466},
    {"variant": "one_page", "device_type": "Desktop", "value": 1.0, "sessions": 2, "conversions": 2,
     "excluded_sessions": 1, "lift": 0.333333, "ci_low": -0.438657, "ci_high": 0.699358,
     "p_value": 0.438578, "required_sessions": 466},
    {"variant": "control", "device_type": "Mobile", "value": 0.0, "sessions": 3, "conversions": 0,
     "excluded_sessions": 0, "lift": None, "required_sessions": None},
    {"variant": "one_page", "device_type": "Mobile", "value": 0.333333, "sessions": 3,
     "conversions": 1, "excluded_sessions": 0, "lift": None, "ci_low": -0.290507,
     "ci_high": 0.79234, "p_value": 0.273322, "required_sessions": None},
]}
# fmt: on
