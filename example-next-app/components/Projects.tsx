'use client';
import { useState } from 'react';
import type { FormEvent } from 'react';
import { useParticle } from 'particle-sync/react';
import type { ProjectRow, TaskRow } from '../lib/model';
import { useWrite } from './useWrite';

/** The projects you work on, each with its tasks, in the order the server's `sort` keeps. */
export function Projects() {
  const projects = useParticle<readonly ProjectRow[]>('projects');
  const tasks = useParticle<readonly TaskRow[]>('tasks');
  if (!projects?.length) return <p className="empty">No projects yet.</p>;
  return (
    <div className="projects">
      {projects.map((project) => (
        <ProjectCard
          key={project._id}
          project={project}
          tasks={tasks?.filter((task) => task.projectId === project._id) ?? []}
          projects={projects}
        />
      ))}
    </div>
  );
}

interface ProjectCardProps {
  project: ProjectRow;
  tasks: readonly TaskRow[];
  projects: readonly ProjectRow[];
}

function ProjectCard({ project, tasks, projects }: ProjectCardProps) {
  const { write, error } = useWrite();
  const add = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = event.currentTarget;
    const title = new FormData(form).get('title');
    if (await write('POST', '/api/tasks', { title, projectId: project._id })) form.reset();
  };
  return (
    <section className="card" data-project={project._id}>
      <h2>{project.name}</h2>
      <ul className="tasks">
        {tasks.map((task) => (
          <TaskItem key={task._id} task={task} projects={projects} />
        ))}
      </ul>
      <form className="add" onSubmit={add}>
        <input
          name="title"
          placeholder="New task"
          aria-label={`New task in ${project.name}`}
          required
        />
        <button>Add</button>
      </form>
      {error && <p role="alert">{error}</p>}
    </section>
  );
}

function TaskItem({ task, projects }: { task: TaskRow; projects: readonly ProjectRow[] }) {
  const { write, error } = useWrite();
  const [renaming, setRenaming] = useState(false);
  const url = `/api/tasks/${encodeURIComponent(task._id)}`;
  const rename = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const title = new FormData(event.currentTarget).get('title');
    if (await write('PATCH', url, { title })) setRenaming(false);
  };
  return (
    <li data-task={task._id} className={task.done ? 'done' : undefined}>
      <input
        type="checkbox"
        checked={task.done}
        aria-label={`Done: ${task.title}`}
        onChange={(event) => void write('PATCH', url, { done: event.target.checked })}
      />
      {renaming ? (
        <form className="rename" onSubmit={rename}>
          <input name="title" defaultValue={task.title} aria-label="New title" autoFocus required />
          <button>Save</button>
        </form>
      ) : (
        <span className="title" onDoubleClick={() => setRenaming(true)}>
          {task.title}
        </span>
      )}
      <span className="actions">
        <button type="button" onClick={() => setRenaming(!renaming)}>
          {renaming ? 'Cancel' : 'Rename'}
        </button>
        <select
          value={task.projectId}
          aria-label={`Move ${task.title}`}
          onChange={(event) => void write('PATCH', url, { projectId: event.target.value })}
        >
          {projects.map((project) => (
            <option key={project._id} value={project._id}>
              {project.name}
            </option>
          ))}
        </select>
        <button
          type="button"
          onClick={() => void write('DELETE', url)}
          aria-label={`Delete ${task.title}`}
        >
          ✕
        </button>
      </span>
      {error && <p role="alert">{error}</p>}
    </li>
  );
}
