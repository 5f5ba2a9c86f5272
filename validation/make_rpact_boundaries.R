# make_rpact_boundaries.R -- R reference values for group-sequential efficacy boundaries with
# Lan-DeMets alpha spending, for xerotrial.stats.group_sequential.
#
# How to run (from the repository root):
#     Rscript validation/make_rpact_boundaries.R
#
# Needs R (r-base-core), r-cran-rpact and r-cran-jsonlite (Debian: apt-get install -y
# r-cran-rpact r-cran-jsonlite). Runs in ~3 s; deterministic (no random numbers).
# Writes tests/data/rpact_boundaries.json with
#   "_meta":   R and rpact versions, the grid, notes
#   "designs": one object per design of rpact::getDesignGroupSequential with
#              typeOfDesign "asOF" (Lan-DeMets O'Brien-Fleming type) or "asP" (Pocock type):
#              name, typeOfDesign, alpha, sided, kMax, informationRates,
#              criticalValues (z), stageLevels (nominal one-sided p = 1 - pnorm(z)),
#              alphaSpent (cumulative, from rpact's numerical integration; the last is
#              floored to 1e-8 by rpact) and spendingValues (the spending function itself,
#              rpact's internal getSpendingValueCpp at each information rate).
# Numbers are written with 15 significant digits.
#
# Conventions (rpact 3.3.4): alpha is the total type I error; for sided = 2 the boundaries are
# symmetric (+-z) and alphaSpent counts both tails. The O'Brien-Fleming-type function is
# 2 * sided * (1 - pnorm(qnorm(1 - alpha / (2 * sided)) / sqrt(t))), i.e. for sided = 2 each
# tail spends 2 * (1 - pnorm(qnorm(1 - alpha / 4) / sqrt(t))); the Pocock type is
# alpha * log(1 + (e - 1) * t) for either sidedness. rpact finds each stage's critical value
# by bisection to an interval width of 1e-8 (its default tolerance).
#
# Futility (beta-spending) bounds are not included: xerotrial computes efficacy boundaries
# only, and with non-binding futility rpact's efficacy boundaries are the same as without.

suppressPackageStartupMessages({
  library(rpact)
  library(jsonlite)
})

out_file <- file.path("tests", "data", "rpact_boundaries.json")
dir.create(dirname(out_file), recursive = TRUE, showWarnings = FALSE)

rates <- list(
  eq2 = c(0.5, 1),
  eq3 = c(1, 2, 3) / 3,
  eq4 = c(0.25, 0.5, 0.75, 1),
  eq5 = c(0.2, 0.4, 0.6, 0.8, 1),
  u30_100 = c(0.3, 1),
  u50_75_100 = c(0.5, 0.75, 1),
  u20_45_70_100 = c(0.2, 0.45, 0.7, 1),
  obs37_81_100 = c(0.37, 0.81, 1) # an observed-fraction case (looks off their plan)
)
settings <- list(
  list(alpha = 0.025, sided = 1),
  list(alpha = 0.05, sided = 2)
)
# a few other alphas, equally spaced three looks
extra <- list(
  list(alpha = 0.05, sided = 1, rates = "eq3"),
  list(alpha = 0.01, sided = 2, rates = "eq3"),
  list(alpha = 0.1, sided = 2, rates = "u30_100")
)

one_design <- function(type, alpha, sided, rname) {
  t <- rates[[rname]]
  d <- getDesignGroupSequential(
    kMax = length(t), alpha = alpha, sided = sided,
    typeOfDesign = type, informationRates = t
  )
  spend <- vapply(t, function(x) rpact:::getSpendingValueCpp(alpha, x, sided, type, NA_real_), 0)
  list(
    name = sprintf("%s_alpha%s_sided%d_%s", type, format(alpha), sided, rname),
    typeOfDesign = type,
    alpha = alpha,
    sided = sided,
    kMax = length(t),
    informationRates = d$informationRates,
    criticalValues = d$criticalValues,
    stageLevels = d$stageLevels,
    alphaSpent = d$alphaSpent,
    spendingValues = spend
  )
}

designs <- list()
for (type in c("asOF", "asP")) {
  for (s in settings) {
    for (rname in names(rates)) {
      designs[[length(designs) + 1]] <- one_design(type, s$alpha, s$sided, rname)
    }
  }
  for (e in extra) {
    designs[[length(designs) + 1]] <- one_design(type, e$alpha, e$sided, e$rates)
  }
}

meta <- list(
  script = "validation/make_rpact_boundaries.R",
  r_version = R.version.string,
  rpact_version = as.character(packageVersion("rpact")),
  jsonlite_version = as.character(packageVersion("jsonlite")),
  function_call = "getDesignGroupSequential(kMax, alpha, sided, typeOfDesign, informationRates)",
  tolerance = getDesignGroupSequential(kMax = 2)$tolerance,
  notes = paste(
    "alpha is the total type I error; sided = 2: symmetric bounds, alphaSpent over both tails.",
    "stageLevels = 1 - pnorm(criticalValues) (one-sided). alphaSpent is cumulative; rpact",
    "floors its last value to 1e-8. spendingValues = rpact's spending function at each rate."
  )
)

json <- toJSON(
  list(`_meta` = meta, designs = designs),
  auto_unbox = TRUE, digits = I(15), pretty = TRUE
)
writeLines(json, out_file)
cat(sprintf("wrote %s: %d designs (rpact %s)\n", out_file, length(designs), meta$rpact_version))
