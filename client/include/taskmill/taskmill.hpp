// Umbrella header of the taskmill C++ client.
#pragma once

#include "taskmill/client.hpp"
#include "taskmill/connection.hpp"
#include "taskmill/console.hpp"
#include "taskmill/enqueuer.hpp"
#include "taskmill/error.hpp"
#include "taskmill/scheduler.hpp"
#include "taskmill/task.hpp"
#include "taskmill/trace.hpp"
#include "taskmill/worker.hpp"
