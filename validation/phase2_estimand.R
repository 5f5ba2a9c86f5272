# phase2_estimand.R -- the phase II demo's estimand by R rbmi, from the bundled records.
#
#     Rscript validation/phase2_estimand.R     (from the repository root; about 1 minute)
#
# Reads src/xerotrial/data/studies/phase2/records.csv itself (its own derivation: UWS =
# (cup after - cup before) / minutes, 1 g = 1 mL; BASE the baseline visit's; CHG = UWS - BASE;
# the arm from the event name, arm 1 = atmsc, arm 2 = placebo; the intercurrent events from the
# repeating instrument intercurrent_events: each subject's earliest first visit affected, the
# strategy of its kind as the definition's [analysis.estimand] says: discontinuation JR,
# rescue CR). Every subject with a baseline value has a row per visit (month_4, month_12; CHG
# NA where not observed). rbmi: CHG ~ ARM + AVISIT + BASE*AVISIT + ARM*AVISIT, one
# unstructured covariance (REML, fits polished by rbmi_polish.R), references atmsc -> placebo,
# placebo -> placebo; method_condmean(type = "jackknife"); ancova per visit on BASE; ARM's
# levels (placebo, atmsc), so trt = atmsc - placebo. Also lm(CHG ~ BASE + ARM) of the observed
# month-4 changes (the report's ANCOVA at the primary visit). Writes
# tests/data/phase2_estimand_rbmi.json.

suppressPackageStartupMessages({
  library(rbmi)
  library(jsonlite)
})
source(file.path("validation", "rbmi_polish.R"))

rec <- read.csv(file.path("src", "xerotrial", "data", "studies", "phase2", "records.csv"),
                colClasses = "character")
rec$visit <- sub("_arm_[0-9]+$", "", rec$redcap_event_name)
rec$ARM <- ifelse(grepl("_arm_1$", rec$redcap_event_name), "atmsc", "placebo")
visits <- rec[rec$redcap_repeat_instrument == "" & rec$uws_minutes != "", ]
visits$UWS <- (as.numeric(visits$uws_after_g) - as.numeric(visits$uws_before_g)) /
  as.numeric(visits$uws_minutes)
base <- visits[visits$visit == "baseline", c("subject", "UWS", "ARM")]
names(base) <- c("PATIENT", "BASE", "ARM")
post <- visits[visits$visit %in% c("month_4", "month_12"), c("subject", "visit", "UWS")]
names(post) <- c("PATIENT", "AVISIT", "UWS")
grid <- merge(base, expand.grid(PATIENT = base$PATIENT, AVISIT = c("month_4", "month_12"),
                                stringsAsFactors = FALSE))
grid <- merge(grid, post, all.x = TRUE)
grid$CHG <- grid$UWS - grid$BASE
grid$PATIENT <- factor(grid$PATIENT)
grid$AVISIT <- factor(grid$AVISIT, levels = c("month_4", "month_12"))
grid$ARM <- factor(grid$ARM, levels = c("placebo", "atmsc"))
grid <- grid[order(grid$PATIENT, grid$AVISIT), ]

ev <- rec[rec$redcap_repeat_instrument == "intercurrent_events", c("subject", "first_visit", "event")]
ev$rank <- match(ev$first_visit, c("month_4", "month_12"))
ev <- ev[order(ev$subject, ev$rank), ]
ev <- ev[!duplicated(ev$subject), ]
ice <- data.frame(PATIENT = ev$subject, AVISIT = ev$first_visit,
                  strategy = c(discontinuation = "JR", rescue = "CR")[ev$event])

vars <- set_vars(outcome = "CHG", visit = "AVISIT", subjid = "PATIENT", group = "ARM",
                 covariates = c("BASE*AVISIT", "ARM*AVISIT"), strategy = "strategy")
dr <- draws(data = grid, data_ice = ice, vars = vars, method = method_condmean(type = "jackknife"),
            quiet = TRUE)
im <- impute(dr, references = c(atmsc = "placebo", placebo = "placebo"))
an <- analyse(im, ancova, vars = set_vars(outcome = "CHG", visit = "AVISIT", subjid = "PATIENT",
                                         group = "ARM", covariates = "BASE"))
p <- pool(an)
df <- as.data.frame(p)

# the ANCOVA at month 4 of the observed changes (the report's "ANCOVA at the primary visit")
obs <- grid[grid$AVISIT == "month_4" & !is.na(grid$CHG), ]
fit <- lm(CHG ~ BASE + ARM, data = obs)
cf <- summary(fit)$coefficients
ci <- confint(fit)["ARMatmsc", ]
lsm <- lapply(c("placebo", "atmsc"), function(a) {
  x <- c(1, mean(obs$BASE), a == "atmsc")
  list(arm = a, est = sum(x * coef(fit)), se = sqrt(drop(t(x) %*% vcov(fit) %*% x)))
})
ancova <- list(n = nrow(obs), df = fit$df.residual, est = cf["ARMatmsc", 1],
               se = cf["ARMatmsc", 2], lower = ci[[1]], upper = ci[[2]],
               p = cf["ARMatmsc", 4], lsmeans = lsm)
out <- list(
  source = sprintf("R rbmi %s with mmrm %s, %s; fits polished (rbmi_polish.R): %s",
                   packageVersion("rbmi"), packageVersion("mmrm"), R.version.string,
                   paste(names(as.list(polish_tally)), unlist(as.list(polish_tally)), collapse = ", ")),
  n_subjects = nlevels(grid$PATIENT),
  ice = lapply(seq_len(nrow(ice)), function(i) as.list(ice[i, ])),
  ancova_month_4 = ancova,
  results = lapply(seq_len(nrow(df)), function(i) list(
    parameter = df$parameter[i], est = df$est[i], se = df$se[i], lci = df$lci[i],
    uci = df$uci[i], pval = df$pval[i]))
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = I(15), pretty = TRUE),
           file.path("tests", "data", "phase2_estimand_rbmi.json"))
print(df)
